"""Turn one recording status callback into an HTTP answer and exactly one audit line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from archiver import signature
from archiver.archive import Archiver, Outcome
from archiver.config import Settings, is_sid
from archiver.logging import Headers, bind_request, get_logger
from archiver.signalwire import FINAL_WITH_AUDIO, NO_AUDIO, RetryPolicy, SignalWireClient
from archiver.storage import open_store

MAX_BODY = 64 * 1024
IGNORED = frozenset({"in-progress", "paused", "resumed", "queued"})
_FORM = "application/x-www-form-urlencoded"
_OK = {"archived", "already_archived", "ignored", "no_audio"}


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Rejected(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass
class Service:
    """Everything a process needs to answer callbacks, built once at startup."""

    settings: Settings
    archiver: Archiver

    @classmethod
    def from_settings(cls, settings: Settings) -> Service:
        store = open_store(settings.archive_uri, settings.chunk_size)
        client = SignalWireClient(settings)
        return cls(settings, Archiver(settings, store, client, RetryPolicy(settings.retry_budget_s)))


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def public_url(settings: Settings, request_url: str, headers: Headers) -> str:
    """The URL SignalWire signed: PUBLIC_URL verbatim, else the request URL as the proxy saw it."""
    if settings.public_url:
        return settings.public_url
    parts = urlsplit(request_url)
    scheme = _first(headers.get("X-Forwarded-Proto")) or parts.scheme
    host = _first(headers.get("X-Forwarded-Host")) or parts.netloc
    return urlunsplit((scheme, host, parts.path, parts.query, ""))


def _read_form(headers: Headers, body: IO[bytes]) -> list[tuple[str, str]]:
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise Rejected(415, f"expected {_FORM}, got {content_type or 'no Content-Type'}")
    length = headers.get("Content-Length") or ""
    if length.isdigit() and int(length) > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    raw = body.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=256)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "form body is not valid UTF-8 form encoding") from None


def _validate(settings: Settings, form: dict[str, str]) -> None:
    account = form.get("AccountSid", "")
    if account.lower() != settings.project_id:
        raise Rejected(400, "AccountSid is not this project")
    if not is_sid(form.get("RecordingSid", "")):
        raise Rejected(400, "RecordingSid is missing or not a SignalWire SID")
    if "CallSid" in form and form["CallSid"] and not is_sid(form["CallSid"]):
        raise Rejected(400, "CallSid is not a SignalWire SID")
    status = form.get("RecordingStatus", "").lower()
    if status not in FINAL_WITH_AUDIO | NO_AUDIO | IGNORED:
        raise Rejected(400, "RecordingStatus is missing or unknown")


def handle_callback(service: Service, method: str, url: str, headers: Headers, body: IO[bytes]) -> Reply:
    """Signature first, then input, then the archive; one audit line whatever happens."""
    bind_request(headers)
    log = get_logger()
    settings = service.settings
    form: dict[str, str] = {}
    try:
        if method != "POST":
            raise Rejected(405, "only POST callbacks are archived", {"Allow": "POST"})
        pairs = _read_form(headers, body)
        form = dict(pairs)
        sig = headers.get("X-SignalWire-Signature") or headers.get("X-Twilio-Signature")
        if not settings.signing_key:
            raise Rejected(403, "SIGNALWIRE_SIGNING_KEY is not set: every callback is refused")
        if not signature.is_valid(settings.signing_key, public_url(settings, url, headers), pairs, sig):
            raise Rejected(403, "signature missing or invalid (is PUBLIC_URL the exact URL set at SignalWire?)")
        _validate(settings, form)
    except Rejected as exc:
        log.warning(
            "callback rejected",
            outcome="rejected",
            http_status=exc.status,
            reason=exc.reason,
            recording_sid=form.get("RecordingSid", "")[:64] or None,
        )
        return Reply(exc.status, {"outcome": "rejected", "reason": exc.reason}, exc.headers)

    sid = form["RecordingSid"].lower()
    status = form["RecordingStatus"].lower()
    if status in IGNORED:
        outcome = Outcome("ignored", recording_sid=sid, account_sid=settings.project_id, recording_status=status)
    elif status in NO_AUDIO:
        outcome = Outcome("no_audio", recording_sid=sid, account_sid=settings.project_id, recording_status=status)
    else:
        outcome = service.archiver.archive(sid)
    outcome.call_sid = outcome.call_sid or form.get("CallSid") or None
    fields = outcome.fields()
    fields["callback_status"] = status
    http_status = 200 if outcome.outcome in _OK else 503
    if http_status == 200:
        log.info(f"recording {outcome.outcome.replace('_', ' ')}", http_status=http_status, **fields)
    else:
        log.error("recording archive failed", http_status=http_status, **fields)
    reply: dict[str, Any] = {
        k: fields[k] for k in ("outcome", "recording_sid", "audio_uri", "metadata_uri", "error") if k in fields
    }
    return Reply(http_status, reply)
