"""A CALLBACK_TOKEN holder can name any UUID: a 404 for it costs one confirmation, not the retry budget.

Requests are counted at the stand-in; the callback goes through a real functions-framework process
with a 10 s budget, in which a vouched-for (signed) recording's 404 is retried throughout.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from archiver.webhook import handle_task
from localspace.space import Fault, Space
from tests.helpers import Harness, StartFunction, env_for, signed_event

TOKEN = "cb-token-0123456789abcdef"


@pytest.fixture
def function(space: Space, tmp_path: Path, function_process: StartFunction) -> str:
    env = env_for(
        space, ARCHIVE_URI=str(tmp_path / "archive"), PUBLIC_URL="", CALLBACK_TOKEN=TOKEN, RETRY_BUDGET_SECONDS="10"
    )
    return function_process(**env).url


def ghost_event(space: Space) -> tuple[str, bytes]:
    """A well-formed finished event for a recording SignalWire does not have."""
    ghost = space.add(api="relay")
    del space.recordings[ghost.sid]
    return ghost.sid, json.dumps(space.event(ghost)).encode()


def post_with_token(url: str, body: bytes) -> requests.Response:
    return requests.post(f"{url}?token={TOKEN}", data=body, headers={"Content-Type": "application/json"}, timeout=60)


def test_a_token_named_missing_recording_costs_one_confirmation(space: Space, function: str) -> None:
    sid, body = ghost_event(space)
    response = post_with_token(function, body)
    assert response.status_code == 503, response.text
    assert response.json() == {"outcome": "failed", "recording_sid": sid, "error": "not_found"}
    assert space.count("relay-json", sid) == 2
    assert space.count() == 2


def test_a_token_named_recording_late_by_one_404_is_archived(space: Space, function: str) -> None:
    rec = space.add(api="relay", size=20_000)
    space.fault(rec.sid, "json", Fault(status=404))
    response = post_with_token(function, json.dumps(space.event(rec)).encode())
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"


def test_a_signed_callback_before_the_recording_is_ready_is_still_waited_for(space: Space, function: str) -> None:
    rec = space.add(api="relay", size=20_000)
    space.fault(rec.sid, "json", Fault(status=404), Fault(status=404), Fault(status=404))
    response = signed_event(function, space.event(rec))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
    assert space.count("relay-json", rec.sid) == 4


def test_the_worker_gives_a_token_named_missing_recording_one_confirmation_and_stops_the_queue(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(RETRY_BUDGET_SECONDS="2")
    sid, _ = ghost_event(harness.space)
    task = json.dumps({"recording_sid": sid, "source": "token_callback", "api": "relay"}).encode()
    reply = handle_task(harness.service, "POST", {}, io.BytesIO(task))
    # 200: the queue stops retrying; the sweep archives the recording should it ever be listed.
    assert (reply.status, reply.body["error"], reply.body["retryable"]) == (200, "not_found", False)
    assert harness.space.count("relay-json", sid) == 2

    # A signed callback's task waits the 404 out for the whole budget.
    signed = json.dumps({"recording_sid": sid, "source": "callback", "api": "relay"}).encode()
    reply = handle_task(harness.service, "POST", {}, io.BytesIO(signed))
    assert (reply.status, reply.body["error"], reply.body["retryable"]) == (503, "signalwire_unavailable", True)
    assert harness.space.count("relay-json", sid) > 2 + 2
