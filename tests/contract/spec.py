"""SignalWire's published contract for recordings, written down field by field with the file and line it comes from.

Source: the signalwire/docs repository at commit 668371b217817d9037657f5079d2345945ad9331 (2026-08-21).
Written from the spec, never from the stand-in or the archiver: a field here that the stand-in lacks, or
a type it gets wrong, fails the contract tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

DOCS_COMMIT = "668371b217817d9037657f5079d2345945ad9331"
LAML_CORE = "specs/compatibility-api/recordings/models/core.tsp"
LAML_MAIN = "specs/compatibility-api/recordings/main.tsp"
COMPAT_OPENAPI = "fern/apis/compatibility/openapi.yaml"
RELAY_CORE = "specs/signalwire-rest/relay-rest/recordings/models/core.tsp"
RECORD_CALL = "fern/products/swml/pages/reference/methods/calling/record_call.mdx"
RECORD = "fern/products/swml/pages/reference/methods/calling/record.mdx"
RELAY_MAIN = "specs/signalwire-rest/relay-rest/recordings/main.tsp"
RELAY_OPENAPI = "fern/apis/signalwire-rest/openapi.yaml"
COMPAT_ERRORS = "specs/compatibility-api/_shared/errors.tsp"
STATUS_CODES = "specs/signalwire-rest/types/status-codes/main.tsp"
ERROR_CODES = "fern/products/compatibility-api/pages/rest-api/core/error-codes.mdx"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# RFC 2822 as the spec's examples write it: "Tue, 25 Sep 2018 23:00:00 +0000".
_RFC2822 = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}")
NULL = type(None)
NUMBER = (int, float)


def uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID.fullmatch(value))


def rfc2822(value: Any) -> bool:
    if not isinstance(value, str) or not _RFC2822.fullmatch(value):
        return False
    parsedate_to_datetime(value)
    return True


def utc_date_time(value: Any) -> bool:
    """TypeSpec `utcDateTime`: RFC 3339 with an offset."""
    if not isinstance(value, str) or not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value
    ):
        return False
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def int32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31


@dataclass(frozen=True)
class Field:
    """One documented field: its JSON types, whether it must be there, its values or format, and where it is written."""

    types: tuple[type, ...]
    cite: str
    required: bool = True
    values: frozenset[Any] | None = None
    check: Callable[[Any], bool] | None = None


def F(types: type | tuple[type, ...], cite: str, **kw: Any) -> Field:
    return Field(types if isinstance(types, tuple) else (types,), cite, **kw)


# LaML Recording: every field is required (no `?` in the TypeSpec; openapi.yaml 10909-10930 lists all 21,
# and 11058-11059 admits no other).
LAML_STATUSES = frozenset({"queued", "in-progress", "paused", "resumed", "completed", "absent", "stopped"})
LAML_SOURCES = frozenset(
    {
        "DialVerb",
        "Conference",
        "OutBoundApi",
        "Trunking",
        "RecordVerb",
        "StartCallRecordingApi",
        "StartConferenceRecording",
    }
)
LAML_RECORDING: dict[str, Field] = {
    "sid": F(str, f"{LAML_CORE}:50", check=uuid),
    "account_sid": F(str, f"{LAML_CORE}:54", check=uuid),
    "api_version": F(str, f"{LAML_CORE}:58"),
    "call_sid": F((str, NULL), f"{LAML_CORE}:62", check=lambda v: v is None or uuid(v)),
    "conference_sid": F((str, NULL), f"{LAML_CORE}:66", check=lambda v: v is None or uuid(v)),
    "channel": F(str, f"{LAML_CORE}:70", values=frozenset({"1", "2"})),
    "channels": F(str, f"{LAML_CORE}:74", values=frozenset({"1", "2"})),
    "date_created": F(str, f"{LAML_CORE}:76-78", check=rfc2822),
    "date_updated": F(str, f"{LAML_CORE}:80-82", check=rfc2822),
    "start_time": F((str, NULL), f"{LAML_CORE}:84-86", check=lambda v: v is None or rfc2822(v)),
    "end_time": F((str, NULL), f"{LAML_CORE}:88-90", check=lambda v: v is None or rfc2822(v)),
    "duration": F(int, f"{LAML_CORE}:92-95 (int32, minValue 0)", check=lambda v: int32(v) and v >= 0),
    "price": F((str, NULL), f"{LAML_CORE}:99"),
    "price_unit": F(str, f"{LAML_CORE}:103"),
    "source": F(str, f"{LAML_CORE}:18-26,106", values=LAML_SOURCES),
    "status": F(str, f"{LAML_CORE}:29-37,109", values=LAML_STATUSES),
    "error_code": F((str, NULL), f"{LAML_CORE}:113"),
    "uri": F(str, f"{LAML_CORE}:117"),
    "subresource_uris": F(dict, f"{LAML_CORE}:40-44,120", check=lambda v: isinstance(v.get("transcriptions"), str)),
    "encryption_details": F((str, NULL), f"{LAML_CORE}:122-124"),
    "trim": F(str, f"{LAML_CORE}:126-128"),
}

# RELAY recording: RecordingBase plus one source's leg id (a PstnRecording here); `?` marks optional fields.
RELAY_RECORDING: dict[str, Field] = {
    "id": F(str, f"{RELAY_CORE}:17", check=uuid),
    "project_id": F(str, f"{RELAY_CORE}:21", check=uuid),
    "created_at": F(str, f"{RELAY_CORE}:24 (utcDateTime)", check=utc_date_time),
    "updated_at": F(str, f"{RELAY_CORE}:27 (utcDateTime)", check=utc_date_time),
    "duration_in_seconds": F(int, f"{RELAY_CORE}:31 (int32)", check=int32),
    "error_code": F(str, f"{RELAY_CORE}:34", required=False),
    "price": F(NUMBER, f"{RELAY_CORE}:38 (float64)"),
    "price_unit": F(str, f"{RELAY_CORE}:42"),
    # No enumeration is documented for `status`: any string (see docs/callbacks.md).
    "status": F(str, f"{RELAY_CORE}:44-46"),
    "url": F(str, f"{RELAY_CORE}:48-50"),
    "stereo": F(bool, f"{RELAY_CORE}:54"),
    "byte_size": F(int, f"{RELAY_CORE}:58 (int32)", required=False, check=int32),
    "track": F(str, f"{RELAY_CORE}:62"),
    "relay_conference_id": F(str, f"{RELAY_CORE}:71", required=False, check=uuid),
    "relay_pstn_leg_id": F(str, f"{RELAY_CORE}:74", check=uuid),
}

# The cXML recordingStatusCallback (openapi.yaml 11292-11355; typed there as a JSON body, sent as a form).
CALLBACK_STATUSES = frozenset({"in-progress", "completed", "absent"})
LAML_CALLBACK: dict[str, Field] = {
    "AccountSid": F(str, f"{COMPAT_OPENAPI}:11304-11308", check=uuid),
    "CallSid": F(str, f"{COMPAT_OPENAPI}:11309-11313", check=uuid),
    "RecordingSid": F(str, f"{COMPAT_OPENAPI}:11314-11318", check=uuid),
    "RecordingUrl": F(str, f"{COMPAT_OPENAPI}:11319-11323"),
    "RecordingStatus": F(str, f"{COMPAT_OPENAPI}:11324-11336", values=CALLBACK_STATUSES),
    # integer/int32 in the schema; a form carries it as decimal digits.
    "RecordingDuration": F(str, f"{COMPAT_OPENAPI}:11337-11342", check=lambda v: v.isdigit()),
    "RecordingChannels": F(str, f"{COMPAT_OPENAPI}:11343-11348", check=lambda v: v.isdigit()),
    "RecordingSource": F(str, f"{COMPAT_OPENAPI}:11349-11353"),
}

# The calling.call.record event, both documented shapes.
EVENT_STATES = frozenset({"recording", "paused", "finished", "no_input", "error"})
EVENT_ENVELOPE: dict[str, Field] = {
    "event_type": F(str, f"{RECORD_CALL}:93-95; {RECORD}:86-88", values=frozenset({"calling.call.record"})),
    "event_channel": F(str, f"{RECORD_CALL}:98-100; {RECORD}:91-93"),
    "timestamp": F(NUMBER, f"{RECORD_CALL}:103-105; {RECORD}:96-98"),
    "project_id": F(str, f"{RECORD_CALL}:108-110; {RECORD}:101-103", check=uuid),
    "space_id": F(str, f"{RECORD_CALL}:113-115; {RECORD}:106-108"),
    "params": F(dict, f"{RECORD_CALL}:118-120; {RECORD}:111-113"),
}
EVENT_PARAMS: dict[str, Field] = {
    "call_id": F(str, f"{RECORD_CALL}:124-126; {RECORD}:117-119"),
    "node_id": F(str, f"{RECORD_CALL}:129-131; {RECORD}:122-124"),
    "control_id": F(str, f"{RECORD_CALL}:134-136; {RECORD}:127-129"),
    "state": F(str, f"{RECORD_CALL}:139-141; {RECORD}:132-134", values=EVENT_STATES),
}
# record_call's result, under params.record, "present when state is finished" (record_call.mdx 144-146).
# The event lists wav and mp3 (166); record_call itself records mp4 too (33-34): the stand-in plays all three.
RECORD_CALL_RESULT: dict[str, Field] = {
    "url": F(str, f"{RECORD_CALL}:150-152"),
    "duration": F(NUMBER, f"{RECORD_CALL}:155-157"),
    "size": F(NUMBER, f"{RECORD_CALL}:160-162"),
    "format": F(str, f"{RECORD_CALL}:165-167 (and 33-34 for mp4)", values=frozenset({"wav", "mp3", "mp4"})),
}
# record's result, in params itself: url and recording_id, duration and size when finished or no_input.
RECORD_RESULT: dict[str, Field] = {
    "url": F(str, f"{RECORD}:137-139"),
    "duration": F(NUMBER, f"{RECORD}:142-144"),
    "size": F(NUMBER, f"{RECORD}:147-149"),
    "recording_id": F(str, f"{RECORD}:152-154", check=uuid),
    "start_time": F(NUMBER, f"{RECORD}:157-159"),
    "end_time": F(NUMBER, f"{RECORD}:162-164"),
}
# record's paused events: "Only present when `state` is `paused`" (record.mdx 167-169); record_call documents none.
PAUSE_BEHAVIOR = F(str, f"{RECORD}:167-169", values=frozenset({"silence", "skip"}))
RECORD_AUDIO: dict[str, Field] = {
    "format": F(str, f"{RECORD}:178-180 (and 27-29 for mp4)", values=frozenset({"wav", "mp3", "mp4"})),
    "direction": F(str, f"{RECORD}:183-185", values=frozenset({"speak", "listen"})),
    "stereo": F(bool, f"{RECORD}:188-190"),
}

# What each DELETE answers: 204 with no body when deleted, 404 for a recording the space does not have.
LAML_DELETE_CITE = f"{LAML_MAIN}:131-143; {COMPAT_OPENAPI}:4324-4343"
RELAY_DELETE_CITE = f"{RELAY_MAIN}:46-61; {RELAY_OPENAPI}:9787-9800"
RELAY_READ_CITE = f"{RELAY_MAIN}:32-44; {RELAY_OPENAPI}:9753-9758"

# CompatibilityErrorResponse: all four required (openapi.yaml 6672-6704, closed), `code` from SignalWire's list.
DOCUMENTED_CODES = frozenset({10000, 20001, 20003, 20404, 20429, 20504})
COMPAT_ERROR: dict[str, Field] = {
    "code": F(int, f"{COMPAT_ERRORS}:5-7; {ERROR_CODES}", values=DOCUMENTED_CODES),
    "message": F(str, f"{COMPAT_ERRORS}:9-11"),
    "more_info": F(str, f"{COMPAT_ERRORS}:13-15"),
    "status": F(int, f"{COMPAT_ERRORS}:17-19", check=int32),
}
# The RELAY REST errors its operations name (relay-rest/recordings/main.tsp 25-61), each a closed schema
# (signalwire-rest openapi.yaml 46003-46119): one `error` word, or ValidationError's `errors` array.
RELAY_ERROR_WORDS = {401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}
RELAY_ERROR_CITE = {401: f"{STATUS_CODES}:10-15", 404: f"{STATUS_CODES}:24-29", 500: f"{STATUS_CODES}:31-36"}
RELAY_VALIDATION_ITEM: dict[str, Field] = {
    "detail": F(str, f"{STATUS_CODES}:53-55"),
    "status": F(str, f"{STATUS_CODES}:57-59", check=str.isdigit),
    "title": F(str, f"{STATUS_CODES}:61-63"),
    "code": F(str, f"{STATUS_CODES}:65-67"),
}


def relay_error_violations(body: Any, status: int) -> list[str]:
    """How a RELAY REST error body departs from the model its status names."""
    if not isinstance(body, dict):
        return [f"{body!r} is not an object"]
    if status == 422:
        items = body.get("errors")
        if set(body) != {"errors"} or not isinstance(items, list) or not items:
            return [f"{body!r} is not ValidationError ({STATUS_CODES}:70-77)"]
        return [v for item in items for v in violations(item, RELAY_VALIDATION_ITEM, closed=True)]
    cite = RELAY_ERROR_CITE[status]
    words = frozenset({RELAY_ERROR_WORDS[status]})
    return violations(body, {"error": F(str, cite, values=words)}, closed=True)


# Where the docs show RELAY media: extension-less (record_call.mdx 188, record.mdx 210).
RELAY_DOWNLOAD = re.compile(r"/api/v1/recordings/(?P<id>[0-9a-f-]{36})/download")
# LaML media: no extension or .wav is WAV, .mp3 is MP3, and needs no authentication (compatibility main.tsp 83-102).
LAML_MEDIA_CITE = f"{LAML_MAIN}:83-102"


def violations(document: Mapping[str, Any], fields: Mapping[str, Field], *, closed: bool = False) -> list[str]:
    """Every way `document` departs from `fields`, each naming the spec's file and line; `closed` also refuses
    fields the spec does not list (openapi.yaml marks these schemas `unevaluatedProperties: not {}`)."""
    found: list[str] = []
    for name, field in fields.items():
        if name not in document:
            if field.required:
                found.append(f"{name}: required, missing ({field.cite})")
            continue
        value = document[name]
        if isinstance(value, bool) and bool not in field.types:
            found.append(f"{name}: {value!r} is a boolean ({field.cite})")
        elif not isinstance(value, field.types):
            found.append(f"{name}: {value!r} is {type(value).__name__}, not {field.types} ({field.cite})")
        elif field.values is not None and value not in field.values:
            found.append(f"{name}: {value!r} is not one of {sorted(field.values)} ({field.cite})")
        elif field.check is not None and not field.check(value):
            found.append(f"{name}: {value!r} is malformed ({field.cite})")
    if closed:
        found.extend(f"{name}: not in the spec" for name in document if name not in fields)
    return found
