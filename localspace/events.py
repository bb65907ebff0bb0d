"""The callbacks SignalWire POSTs about a stand-in recording: cXML recording status forms, RELAY record events."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from localspace.host import Host
from localspace.recording import FakeRecording

# record.mdx 167-169: how a paused `record` handles audio, "Only present when `state` is `paused`".
PAUSE_BEHAVIORS = ("silence", "skip")
# What an mp4 recording's event names as its format: "mp4", which both methods record (record_call.mdx 33-34,
# record.mdx 27-29), or nothing, since the events' enumerations stop at `wav`, `mp3` (record_call.mdx 166,
# record.mdx 179).
MP4_NAMED = ("mp4", None)


@dataclass(frozen=True)
class EventReadings:
    """What the event docs leave open, as the stand-in plays it: `pause_behavior` (one of PAUSE_BEHAVIORS) and
    `mp4_named` (one of MP4_NAMED)."""

    pause_behavior: str = "silence"
    mp4_named: str | None = "mp4"

    def format_of(self, fmt: str) -> str | None:
        return self.mp4_named if fmt == "mp4" else fmt


# Each reading's default: what the docs show first.
SHOWN = EventReadings()


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` without those a reading leaves out (None)."""
    return {name: value for name, value in fields.items() if value is not None}


def status_callback(space: Host, sid: str, status: str = "completed") -> dict[str, str]:
    """The form fields of a cXML recordingStatusCallback for `sid` (compatibility openapi.yaml,
    RecordingStatusCallbackPayload: every required field), as SignalWire POSTs them."""
    recording = space.recordings.get(sid)
    call_sid = recording.call_sid if recording is not None and recording.call_sid else str(uuid.uuid4())
    return {
        "AccountSid": space.project_id,
        "CallSid": call_sid,
        "RecordingSid": sid,
        "RecordingUrl": f"{space.url}/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings/{sid}",
        "RecordingStatus": status,
        "RecordingDuration": "4",
        "RecordingChannels": "1",
        "RecordingSource": "DialVerb",
    }


def event(
    space: Host,
    recording: FakeRecording,
    state: str = "finished",
    shape: str = "record_call",
    readings: EventReadings = SHOWN,
    **record: Any,
) -> dict[str, Any]:
    """The `calling.call.record` event SignalWire POSTs to a status_url, in the documented `shape`.

    "record_call" (swml record_call.mdx): the result under `params.record` (`url`, `duration`, `size`,
    `format`). "record" (swml record.mdx): `params.url`, `params.recording_id`, `params.size`, ... and
    the settings under `params.record.audio`; `params.pause_behavior` when paused. `readings` chooses what
    the docs leave open; `record` overrides fields of the result.
    """
    params: dict[str, Any] = {
        "call_id": recording.call_sid,
        "node_id": str(uuid.uuid4()),
        "control_id": str(uuid.uuid4()),
        "state": state,
    }
    url = recording.media_url(space.url, space.other_host_url)
    named = readings.format_of(recording.fmt)
    if shape == "record":
        ended = recording.created.timestamp() + 4
        if state in ("finished", "no_input"):
            params |= {"url": url, "duration": 4, "size": recording.size, "recording_id": recording.sid}
            params |= {"start_time": ended - 4, "end_time": ended}
        if state == "paused":
            params["pause_behavior"] = readings.pause_behavior
        audio = {"format": named, "direction": "speak", "stereo": False}
        params["record"] = {"audio": _present(audio) | record}
    elif state == "finished":
        result = {"url": url, "duration": 4.0, "size": recording.size, "format": named}
        params["record"] = _present(result) | record
    return {
        "event_type": "calling.call.record",
        "event_channel": f"swml:{uuid.uuid4()}",
        "timestamp": time.time(),
        "project_id": space.project_id,
        "space_id": str(uuid.uuid4()),
        "params": params,
    }
