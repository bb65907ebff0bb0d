"""Every callback the stand-in sends: both documented calling.call.record shapes and the cXML status callback."""

from __future__ import annotations

from dataclasses import replace

import pytest

from localspace.events import PAUSE_BEHAVIORS, EventReadings
from localspace.space import Space
from tests.contract.spec import (
    EVENT_ENVELOPE,
    EVENT_PARAMS,
    EVENT_STATES,
    LAML_CALLBACK,
    PAUSE_BEHAVIOR,
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
@pytest.mark.parametrize("fmt", ["wav", "mp3", "mp4"])
@pytest.mark.parametrize("pause_behavior", PAUSE_BEHAVIORS)
def test_record_events(space: Space, state: str, fmt: str, pause_behavior: str) -> None:
    """swml record.mdx 84-224: url and recording_id in params, the settings under params.record.audio."""
    recording = space.add(size=2_000, api="relay", fmt=fmt)
    event = space.event(recording, state, shape="record", readings=EventReadings(pause_behavior=pause_behavior))
    assert violations(event, EVENT_ENVELOPE, closed=True) == []
    params = event["params"]
    # duration and size "present when state is finished or no_input" (record.mdx 143, 148); start and end
    # times when the recording has ended (158, 163); url and recording_id "when available" (153);
    # pause_behavior "only present when state is paused" (167-169).
    ended = state in ("finished", "no_input")
    result = {name: replace(field, required=ended) for name, field in RECORD_RESULT.items()}
    paused = {"pause_behavior": replace(PAUSE_BEHAVIOR, required=state == "paused")}
    fields = EVENT_PARAMS | result | paused | {"record": EVENT_ENVELOPE["params"]}
    assert violations(params, fields, closed=True) == []
    assert params.get("pause_behavior") == (pause_behavior if state == "paused" else None)
    assert violations(params["record"], {"audio": EVENT_ENVELOPE["params"]}, closed=True) == []
    assert violations(params["record"]["audio"], RECORD_AUDIO, closed=True) == []
    if state == "finished":
        assert params["recording_id"] == recording.sid
        assert RELAY_DOWNLOAD.search(params["url"])


@pytest.mark.parametrize("shape", ["record_call", "record"])
def test_an_mp4_recordings_event_names_mp4_or_no_format(space: Space, shape: str) -> None:
    """Both methods record mp4 (record_call.mdx 33-34, record.mdx 27-29) but the events' format enumerations
    stop at wav and mp3 (record_call.mdx 166, record.mdx 179): the stand-in names "mp4", or leaves it out."""
    recording = space.add(size=2_000, api="relay", fmt="mp4")
    named = space.event(recording, shape=shape)
    unnamed = space.event(recording, shape=shape, readings=EventReadings(mp4_named=None))
    result = RECORD_CALL_RESULT if shape == "record_call" else RECORD_AUDIO
    optional = result | {"format": replace(result["format"], required=False)}
    for event, fmt in ((named, "mp4"), (unnamed, None)):
        settings = event["params"]["record"] if shape == "record_call" else event["params"]["record"]["audio"]
        assert violations(settings, optional, closed=True) == []
        assert settings.get("format") == fmt


@pytest.mark.parametrize("status", ["in-progress", "completed", "absent"])
def test_cxml_status_callbacks(space: Space, status: str) -> None:
    """openapi.yaml RecordingStatusCallbackPayload: every required field, and nothing it does not admit."""
    recording = space.add(size=2_000)
    assert violations(space.status_callback(recording.sid, status), LAML_CALLBACK, closed=True) == []
