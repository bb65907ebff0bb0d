"""Each rule the strict proxy enforces, by direct JSON API requests; where the fake alone differs, that is shown too.

Real GCS's answers (status and `reason`) follow its JSON API: 412 conditionNotMet, 403 retentionPolicyNotMet
and objectUnderActiveHold, 429 rateLimitExceeded, 410 for a dead resumable session.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from localspace.strictgcs import GCS_MUTATION_INTERVAL_S, Fault, StrictGcs, check_retention_patch

Server = tuple[str, str]  # (base URL, bucket)


@pytest.fixture(autouse=True)
def _one_request_each(strict: StrictGcs) -> None:
    # These requests are not retried as a client would: only the rate-limit tests set a limit.
    strict.mutation_interval_s = None


@pytest.fixture
def bucket(strict: StrictGcs) -> str:
    name = f"strict-{uuid.uuid4().hex[:12]}"
    requests.post(f"{strict.url}/storage/v1/b", json={"name": name}, timeout=10).raise_for_status()
    return name


def upload(base: str, bucket: str, name: str, data: bytes, **args: str) -> requests.Response:
    """A simple (uploadType=media) upload."""
    params = {"uploadType": "media", "name": name, **args}
    return requests.post(f"{base}/upload/storage/v1/b/{bucket}/o", params=params, data=data, timeout=30)


def multipart(base: str, bucket: str, name: str, data: bytes, **args: str) -> requests.Response:
    boundary = "strict-boundary"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps({'name': name})}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return requests.post(
        f"{base}/upload/storage/v1/b/{bucket}/o",
        params={"uploadType": "multipart", **args},
        data=body,
        headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        timeout=30,
    )


def open_session(base: str, bucket: str, name: str, **args: str) -> str:
    answer = requests.post(
        f"{base}/upload/storage/v1/b/{bucket}/o",
        params={"uploadType": "resumable", **args},
        json={"name": name},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.headers["Location"])


def put_all(session: str, data: bytes) -> requests.Response:
    """The whole body as the one, final chunk of a resumable session."""
    headers = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
    return requests.put(session, data=data, headers=headers, timeout=30)


def obj(base: str, bucket: str, name: str) -> str:
    return f"{base}/storage/v1/b/{bucket}/o/{quote(name, safe='')}"


def content(base: str, bucket: str, name: str) -> bytes:
    return requests.get(obj(base, bucket, name), params={"alt": "media"}, timeout=10).content


def reason(answer: requests.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["errors"][0]["reason"]


def test_resumable_finalisation_checks_if_generation_match_0(strict: StrictGcs, bucket: str) -> None:
    assert upload(strict.url, bucket, "a", b"first").status_code == 200
    session = open_session(strict.url, bucket, "a", ifGenerationMatch="0")
    assert session.startswith(strict.url + "/"), "the session must come back through the proxy"
    assert reason(put_all(session, b"second")) == (412, "conditionNotMet")
    assert content(strict.url, bucket, "a") == b"first"
    # The fake alone: the same session straight to it overwrites (the leniency this proxy exists for).
    direct = open_session(strict.upstream, bucket, "a", ifGenerationMatch="0").replace(strict.url, strict.upstream)
    assert put_all(direct, b"second").status_code == 200
    assert content(strict.upstream, bucket, "a") == b"second"


def test_resumable_finalisation_checks_a_generation_that_changed_after_the_session_opened(
    strict: StrictGcs, bucket: str
) -> None:
    generation = upload(strict.url, bucket, "a", b"first").json()["generation"]
    session = open_session(strict.url, bucket, "a", ifGenerationMatch=generation)
    assert upload(strict.url, bucket, "a", b"meanwhile", ifGenerationMatch=generation).status_code == 200
    assert reason(put_all(session, b"late")) == (412, "conditionNotMet")
    assert content(strict.url, bucket, "a") == b"meanwhile"


@pytest.mark.parametrize("send", [upload, multipart])
def test_simple_and_multipart_uploads_check_preconditions(strict: StrictGcs, bucket: str, send: Any) -> None:
    first = send(strict.url, bucket, "a", b"first", ifGenerationMatch="0")
    assert first.status_code == 200
    assert reason(send(strict.url, bucket, "a", b"second", ifGenerationMatch="0")) == (412, "conditionNotMet")
    assert reason(send(strict.url, bucket, "a", b"second", ifGenerationMatch="12345")) == (412, "conditionNotMet")
    assert send(strict.url, bucket, "a", b"second", ifGenerationMatch=first.json()["generation"]).status_code == 200
    assert content(strict.url, bucket, "a") == b"second"
    # The fake alone checks a multipart upload's precondition, but takes a simple one over an existing object.
    assert send(strict.upstream, bucket, "a", b"third", ifGenerationMatch="0").status_code == (
        200 if send is upload else 412
    )


def test_a_metadata_patch_keeps_the_generation_preconditions_name(strict: StrictGcs, bucket: str) -> None:
    """Real GCS bumps only the metageneration on a patch; the fake gives a new generation, the proxy hides that."""
    generation = upload(strict.url, bucket, "a", b"x").json()["generation"]
    patched = requests.patch(
        obj(strict.url, bucket, "a"), params={"ifGenerationMatch": generation}, json={}, timeout=10
    )
    assert patched.status_code == 200
    again = requests.patch(
        obj(strict.url, bucket, "a"),
        params={"ifGenerationMatch": generation, "ifMetagenerationMatch": "2"},
        json={},
        timeout=10,
    )
    assert again.status_code == 200
    stale = requests.patch(obj(strict.url, bucket, "a"), params={"ifMetagenerationMatch": "2"}, json={}, timeout=10)
    assert reason(stale) == (412, "conditionNotMet")
    assert reason(requests.delete(obj(strict.url, bucket, "a"), params={"ifGenerationMatch": "1"}, timeout=10)) == (
        412,
        "conditionNotMet",
    )


def retain(base: str, bucket: str, name: str, mode: str, until: datetime) -> requests.Response:
    retention = {"mode": mode, "retainUntilTime": until.isoformat().replace("+00:00", "Z")}
    return requests.patch(obj(base, bucket, name), json={"retention": retention}, timeout=10)


@pytest.mark.parametrize("mode", ["Unlocked", "Locked"])
def test_retained_objects_can_be_neither_deleted_nor_overwritten(strict: StrictGcs, bucket: str, mode: str) -> None:
    upload(strict.url, bucket, "a", b"kept")
    assert retain(strict.url, bucket, "a", mode, datetime.now(UTC) + timedelta(days=1)).status_code == 200
    assert reason(requests.delete(obj(strict.url, bucket, "a"), timeout=10)) == (403, "retentionPolicyNotMet")
    assert reason(upload(strict.url, bucket, "a", b"replaced")) == (403, "retentionPolicyNotMet")
    assert reason(put_all(open_session(strict.url, bucket, "a"), b"replaced")) == (403, "retentionPolicyNotMet")
    assert content(strict.url, bucket, "a") == b"kept"
    # The fake alone deletes it.
    assert requests.delete(obj(strict.upstream, bucket, "a"), timeout=10).status_code < 300


def test_an_expired_retention_lets_the_object_go(strict: StrictGcs, bucket: str) -> None:
    upload(strict.url, bucket, "a", b"x")
    assert retain(strict.url, bucket, "a", "Unlocked", datetime.now(UTC) - timedelta(seconds=1)).status_code == 200
    assert requests.delete(obj(strict.url, bucket, "a"), timeout=10).status_code < 300


@pytest.mark.parametrize("hold", ["temporaryHold", "eventBasedHold"])
def test_held_objects_can_be_neither_deleted_nor_overwritten(strict: StrictGcs, bucket: str, hold: str) -> None:
    upload(strict.url, bucket, "a", b"kept")
    assert requests.patch(obj(strict.url, bucket, "a"), json={hold: True}, timeout=10).json()[hold] is True
    assert requests.get(obj(strict.url, bucket, "a"), timeout=10).json()[hold] is True
    assert hold not in requests.get(obj(strict.upstream, bucket, "a"), timeout=10).json()  # the fake forgot it
    assert reason(requests.delete(obj(strict.url, bucket, "a"), timeout=10)) == (403, "objectUnderActiveHold")
    assert reason(multipart(strict.url, bucket, "a", b"replaced")) == (403, "objectUnderActiveHold")
    assert content(strict.url, bucket, "a") == b"kept"
    # Listed as GCS lists it, hold included (a release that finds objects by listing relies on it).
    listed = requests.get(f"{strict.url}/storage/v1/b/{bucket}/o", timeout=10).json()["items"]
    assert [(item["name"], item.get(hold)) for item in listed] == [("a", True)]
    requests.patch(obj(strict.url, bucket, "a"), json={hold: False}, timeout=10).raise_for_status()
    assert requests.delete(obj(strict.url, bucket, "a"), timeout=10).status_code < 300


def test_a_locked_retention_can_only_be_extended(strict: StrictGcs, bucket: str) -> None:
    upload(strict.url, bucket, "a", b"x")
    until = datetime.now(UTC) + timedelta(days=30)
    assert retain(strict.url, bucket, "a", "Locked", until).status_code == 200
    assert reason(retain(strict.url, bucket, "a", "Locked", until - timedelta(days=1))) == (403, "forbidden")
    assert reason(retain(strict.url, bucket, "a", "Unlocked", until)) == (403, "forbidden")
    removed = requests.patch(obj(strict.url, bucket, "a"), json={"retention": None}, timeout=10)
    assert reason(removed) == (403, "forbidden")
    # Custom metadata may still change.
    assert requests.patch(obj(strict.url, bucket, "a"), json={"metadata": {"k": "v"}}, timeout=10).status_code == 200
    # Extending is GCS's one allowed change: the proxy lets it through, and the fake then refuses it (400),
    # as it refuses every change to a Locked retention.
    current = requests.get(obj(strict.url, bucket, "a"), timeout=10).json()
    later = {"retention": {"mode": "Locked", "retainUntilTime": (until + timedelta(days=1)).isoformat()}}
    check_retention_patch("a", current, later)
    assert retain(strict.url, bucket, "a", "Locked", until + timedelta(days=1)).status_code == 400


def test_a_second_mutation_of_a_name_within_the_interval_is_429(strict: StrictGcs, bucket: str) -> None:
    # An hour, not GCS's second: the test must not depend on how fast this machine is.
    strict.mutation_interval_s = 3600
    assert upload(strict.url, bucket, "a", b"x").status_code == 200
    assert reason(requests.patch(obj(strict.url, bucket, "a"), json={}, timeout=10)) == (429, "rateLimitExceeded")
    assert reason(requests.delete(obj(strict.url, bucket, "a"), timeout=10)) == (429, "rateLimitExceeded")
    assert upload(strict.url, bucket, "b", b"x").status_code == 200  # another name is not limited
    assert GCS_MUTATION_INTERVAL_S == 1.0


def test_after_the_interval_a_name_can_change_again(strict: StrictGcs, bucket: str) -> None:
    strict.mutation_interval_s = 0.2
    assert upload(strict.url, bucket, "a", b"x").status_code == 200
    time.sleep(0.3)
    assert requests.patch(obj(strict.url, bucket, "a"), json={}, timeout=10).status_code == 200


@pytest.mark.parametrize("answer", ["reset", "503"])
def test_lose_commits_then_swallows_the_answer(strict: StrictGcs, bucket: str, answer: str) -> None:
    strict.inject(bucket, "a", Fault("lose", answer))
    if answer == "reset":
        with pytest.raises(requests.ConnectionError):
            upload(strict.url, bucket, "a", b"committed")
    else:
        assert reason(upload(strict.url, bucket, "a", b"committed")) == (503, "backendError")
    assert content(strict.url, bucket, "a") == b"committed"


def test_a_finished_session_answers_its_object_again(strict: StrictGcs, bucket: str) -> None:
    session = open_session(strict.url, bucket, "a", ifGenerationMatch="0")
    strict.inject(bucket, "a", Fault("lose", "503"))
    assert put_all(session, b"data").status_code == 503
    # The client's retry of the final chunk (or its status query) finds the upload done, as on GCS.
    again = requests.put(session, headers={"Content-Range": "bytes */4"}, timeout=10)
    assert again.status_code == 200 and again.json()["size"] == "4"


def test_gone_answers_503_then_410_and_nothing_is_created(strict: StrictGcs, bucket: str) -> None:
    session = open_session(strict.url, bucket, "a", ifGenerationMatch="0")
    strict.inject(bucket, "a", Fault("gone"))
    assert reason(put_all(session, b"data")) == (503, "backendError")
    assert reason(put_all(session, b"data")) == (410, "gone")
    assert requests.get(obj(strict.url, bucket, "a"), timeout=10).status_code == 404


def test_throttle_answers_429_once(strict: StrictGcs, bucket: str) -> None:
    strict.inject(bucket, "a", Fault("throttle"))
    assert reason(upload(strict.url, bucket, "a", b"x")) == (429, "rateLimitExceeded")
    assert upload(strict.url, bucket, "a", b"x").status_code == 200


class Blocks:
    """`size` bytes made as they are sent, with a length so the client sends Content-Length."""

    def __init__(self, size: int, block: int = 1024 * 1024) -> None:
        self.size, self.block = size, block

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.size // self.block):
            yield bytes([i % 251]) * self.block


def test_a_chunked_body_passes_through(strict: StrictGcs, bucket: str) -> None:
    size = 3 * 1024 * 1024
    session = open_session(strict.url, bucket, "chunked")
    body = iter(Blocks(size))  # no length: the client sends Transfer-Encoding: chunked
    answer = requests.put(session, data=body, headers={"Content-Range": f"bytes 0-{size - 1}/{size}"}, timeout=60)
    assert answer.status_code == 200 and int(answer.json()["size"]) == size


def test_large_chunks_stream_through_without_being_held(strict: StrictGcs, bucket: str) -> None:
    size = 48 * 1024 * 1024
    session = open_session(strict.url, bucket, "big", ifGenerationMatch="0")
    tracemalloc.start()
    try:
        answer = requests.put(
            session, data=Blocks(size), headers={"Content-Range": f"bytes 0-{size - 1}/{size}"}, timeout=120
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 200 and int(answer.json()["size"]) == size
    # The proxy and the client share this process: together they held far less than the body.
    assert peak < 12 * 1024 * 1024, peak
