"""The callbacks SignalWire POSTs about a stand-in recording: cXML recording status forms, RELAY record events."""

from __future__ import annotations

import time
import uuid
from typing import Any

from localspace.host import Host
from localspace.recording import FakeRecording


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
    space: Host, recording: FakeRecording, state: str = "finished", shape: str = "record_call", **record: Any
) -> dict[str, Any]:
    """The `calling.call.record` event SignalWire POSTs to a status_url, in the documented `shape`.

    "record_call" (swml record_call.mdx): the result under `params.record` (`url`, `duration`, `size`,
    `format`). "record" (swml record.mdx): `params.url`, `params.recording_id`, `params.size`, ... and
    the settings under `params.record.audio`. `record` overrides fields of the result.
    """
    params: dict[str, Any] = {
        "call_id": recording.call_sid,
        "node_id": str(uuid.uuid4()),
        "control_id": str(uuid.uuid4()),
        "state": state,
    }
    url = recording.media_url(space.url, space.other_host_url)
    if shape == "record":
        ended = recording.created.timestamp() + 4
        if state in ("finished", "no_input"):
            params |= {"url": url, "duration": 4, "size": recording.size, "recording_id": recording.sid}
            params |= {"start_time": ended - 4, "end_time": ended}
        audio = {"format": recording.fmt, "direction": "speak", "stereo": False}
        params["record"] = {"audio": audio | record}
    elif state == "finished":
        params["record"] = {"url": url, "duration": 4.0, "size": recording.size, "format": recording.fmt} | record
    return {
        "event_type": "calling.call.record",
        "event_channel": f"swml:{uuid.uuid4()}",
        "timestamp": time.time(),
        "project_id": space.project_id,
        "space_id": str(uuid.uuid4()),
        "params": params,
    }
