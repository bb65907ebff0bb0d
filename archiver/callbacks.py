"""The recording callbacks SignalWire sends, one parser per shape, each returning the same typed `Callback`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from archiver.config import SID_RE, is_sid
from archiver.recordings import FINAL_WITH_AUDIO, NO_AUDIO, Api

Shape = Literal["form", "query", "event"]
# "unknown": a status word not documented; SignalWire's REST answer then decides, and a WARNING names it.
Kind = Literal["audio", "no_audio", "not_final", "unknown"]

# cXML RecordingStatus values; `stopped` and the REST resource's own statuses are tolerated too.
_LAML_NOT_FINAL = frozenset({"in-progress", "paused", "resumed", "queued"})
# SWML record_call / Calling API calling.record states.
_RELAY_KINDS: dict[str, Kind] = {
    "finished": "audio",
    "no_input": "no_audio",
    "error": "no_audio",
    "recording": "not_final",
    "paused": "not_final",
}
RECORD_EVENT = "calling.call.record"
_MAX_URL = 2048


class Invalid(ValueError):
    """A signed callback whose content cannot be acted on (answered 400)."""


@dataclass(frozen=True)
class Callback:
    """What a callback says, whatever its shape: which recording, how final, which API it belongs to.

    `recording_id` is None only for an event that names no recording and needs none (not final, no audio).
    `key_position` is the 1-based position in SIGNALWIRE_SIGNING_KEY of the key that signed it, None
    when CALLBACK_TOKEN vouched for it instead.
    """

    api: Api
    shape: Shape
    status: str
    kind: Kind
    recording_id: str | None
    call_id: str | None = None
    key_position: int | None = None
    # The format an event names (`params.record.format`, or `params.record.audio.format`): a hint only.
    format_hint: str | None = None


def _laml_kind(status: str) -> Kind:
    if not status:
        raise Invalid("RecordingStatus is missing")
    if status in FINAL_WITH_AUDIO:
        return "audio"
    if status in NO_AUDIO:
        return "no_audio"
    return "not_final" if status in _LAML_NOT_FINAL else "unknown"


def from_fields(fields: Mapping[str, str], project_id: str, shape: Shape, key_position: int | None) -> Callback:
    """A cXML/LaML recordingStatusCallback, from a form POST or a GET's query string.

    Only AccountSid, RecordingSid and RecordingStatus are required; CallSid is absent or empty for
    conference recordings, and every other field (RecordingUrl, RecordingSource, ...) is ignored.
    """
    if fields.get("AccountSid", "").lower() != project_id:
        raise Invalid("AccountSid is not this project")
    sid = fields.get("RecordingSid", "")
    if not is_sid(sid):
        raise Invalid("RecordingSid is missing or not a SignalWire SID")
    call_sid = fields.get("CallSid") or None
    if call_sid is not None and not is_sid(call_sid):
        raise Invalid("CallSid is not a SignalWire SID")
    status = fields.get("RecordingStatus", "").lower()[:32]
    kind = _laml_kind(status)
    return Callback(Api.LAML, shape, status, kind, sid.lower(), call_sid and call_sid.lower(), key_position)


def _uuid_in_path(url: Any) -> str | None:
    """The last UUID in a URL's path: only the id is taken from a URL, never the host."""
    if not isinstance(url, str) or len(url) > _MAX_URL:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    found = SID_RE.findall(path)
    return found[-1].lower() if found else None


def _recording_id(params: Mapping[str, Any]) -> str | None:
    """The recording an event is about: an explicit id where SignalWire sends one, else the URL's UUID.

    record_call's events carry the URL under `params.record.url`; record's carry `params.url` and
    `params.recording_id` (signalwire/docs swml record_call.mdx and record.mdx).
    """
    record = params.get("record")
    record = record if isinstance(record, dict) else {}
    explicit = params.get("recording_id") or record.get("id")
    if isinstance(explicit, str) and is_sid(explicit):
        return explicit.lower()
    return _uuid_in_path(record.get("url")) or _uuid_in_path(params.get("url"))


def _format_hint(params: Mapping[str, Any]) -> str | None:
    """record_call's `params.record.format`, or record's `params.record.audio.format`; None when neither says."""
    record = params.get("record")
    record = record if isinstance(record, dict) else {}
    audio = record.get("audio")
    named = record.get("format") or (audio.get("format") if isinstance(audio, dict) else None)
    return named.lower()[:8] if isinstance(named, str) and named.isascii() and named.isalnum() else None


def from_event(body: bytes, project_id: str, key_position: int | None) -> Callback:
    """A SWML `record_call` / Calling API `calling.record` status event (JSON)."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise Invalid("body is not JSON") from None
    if not isinstance(event, dict) or event.get("event_type") != RECORD_EVENT:
        raise Invalid(f"not a {RECORD_EVENT} event")
    project = event.get("project_id")
    if project is not None and str(project).lower() != project_id:
        raise Invalid("project_id is not this project")
    params = event.get("params")
    if not isinstance(params, dict):
        raise Invalid("event has no params")
    state = str(params.get("state") or "").lower()[:32]
    if not state:
        raise Invalid("params.state is missing")
    kind = _RELAY_KINDS.get(state, "unknown")
    call_id = params.get("call_id") or None
    if call_id is not None and not (isinstance(call_id, str) and is_sid(call_id)):
        raise Invalid("params.call_id is not a SignalWire id")
    recording_id = _recording_id(params)
    if kind == "audio" and recording_id is None:
        raise Invalid("finished event names no recording (no UUID in params.record.url)")
    call = call_id and call_id.lower()
    return Callback(Api.RELAY, "event", state, kind, recording_id, call, key_position, _format_hint(params))
