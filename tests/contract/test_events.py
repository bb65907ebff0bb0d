"""Every callback the stand-in sends: both documented calling.call.record shapes and the cXML status callback."""

from __future__ import annotations

from dataclasses import replace

import pytest

from localspace.space import Space
from tests.contract.spec import (
    EVENT_ENVELOPE,
    EVENT_PARAMS,
    EVENT_STATES,
    LAML_CALLBACK,
    RECORD_AUDIO,
    RECORD_CALL_RESULT,
    RECORD_RESULT,
    RELAY_DOWNLOAD,
    violations,
)


@pytest.mark.parametrize("state", sorted(EVENT_STATES))
@pytest.mark.parametrize("fmt", ["wav", "mp3", "mp4"])
def test_record_call_events(space: Space, state: str, fmt: str) -> None:
    """swml record_call.mdx 91-195: the result under params.record, present when the state is finished."""
    recording = space.add(size=2_000, api="relay", fmt=fmt)
    event = space.event(recording, state)
    assert violations(event, EVENT_ENVELOPE, closed=True) == []
    params = event["params"]
    record = replace(EVENT_ENVELOPE["params"], required=state == "finished")
    assert violations(params, EVENT_PARAMS | {"record": record}, closed=True) == []
    if state == "finished":
        assert violations(params["record"], RECORD_CALL_RESULT, closed=True) == []
        assert params["record"]["format"] == fmt
        assert RELAY_DOWNLOAD.search(params["record"]["url"])
    else:
        assert "record" not in params


@pytest.mark.parametrize("state", sorted(EVENT_STATES))
@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_record_events(space: Space, state: str, fmt: str) -> None:
    """swml record.mdx 84-224: url and recording_id in params, the settings under params.record.audio."""
    recording = space.add(size=2_000, api="relay", fmt=fmt)
    event = space.event(recording, state, shape="record")
    assert violations(event, EVENT_ENVELOPE, closed=True) == []
    params = event["params"]
    # duration and size "present when state is finished or no_input" (record.mdx 143, 148); start and end
    # times when the recording has ended (158, 163); url and recording_id "when available" (153).
    ended = state in ("finished", "no_input")
    result = {name: replace(field, required=ended) for name, field in RECORD_RESULT.items()}
    fields = EVENT_PARAMS | result | {"record": EVENT_ENVELOPE["params"]}
    assert violations(params, fields, closed=True) == []
    assert violations(params["record"], {"audio": EVENT_ENVELOPE["params"]}, closed=True) == []
    assert violations(params["record"]["audio"], RECORD_AUDIO, closed=True) == []
    if state == "finished":
        assert params["recording_id"] == recording.sid
        assert RELAY_DOWNLOAD.search(params["url"])


@pytest.mark.parametrize("status", ["in-progress", "completed", "absent"])
def test_cxml_status_callbacks(space: Space, status: str) -> None:
    """openapi.yaml RecordingStatusCallbackPayload: every required field, and nothing it does not admit."""
    recording = space.add(size=2_000)
    assert violations(space.status_callback(recording.sid, status), LAML_CALLBACK, closed=True) == []
