"""HTTP requests into answers: the recording status callback, and the scheduled sweep."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from archiver import progress, signature
from archiver.archive import Archiver, Outcome
from archiver.auth import CertsUnavailable, InvokerCheck, Unauthorized
from archiver.config import Settings, is_sid
from archiver.logging import Headers, audit, bind_request, get_logger
from archiver.reconcile import parse_when, sweep
from archiver.signalwire import FINAL_WITH_AUDIO, NO_AUDIO, RetryPolicy, SignalWireClient
from archiver.storage import open_store
from archiver.tasks import TaskBody, TaskQueue

MAX_BODY = 64 * 1024
MAX_FIELDS = 256
IGNORED = frozenset({"in-progress", "paused", "resumed", "queued"})
_FORM = "application/x-www-form-urlencoded"
# host[:port] as a proxy may forward it: a DNS name or IPv4 address, or a bracketed IPv6 address.
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?"
)


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
    # Queued mode: callbacks and the sweep create tasks instead of archiving inline.
    queue: TaskQueue | None = None
    # Deployed: who may call the private entry points.
    invoker: InvokerCheck | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Service:
        store = open_store(settings.archive_uri, settings.chunk_size)
        client = SignalWireClient(settings)
        archiver = Archiver(settings, store, client, RetryPolicy(settings.retry_budget_s))
        queue = TaskQueue(settings) if settings.tasks_queue else None
        invoker = None
        if settings.invoker_audience and settings.invoker_service_account:
            invoker = InvokerCheck(settings.invoker_audience, settings.invoker_service_account)
        return cls(settings, archiver, queue, invoker)


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def public_url(settings: Settings, request_url: str, headers: Headers) -> str | None:
    """The URL SignalWire signed: PUBLIC_URL verbatim, else the request URL as the proxy saw it.

    The fallback trusts X-Forwarded-* headers, which only a proxy of your own (a local tunnel) makes
    trustworthy; deployed, PUBLIC_URL is required. None when the forwarded host is not a host at all.
    """
    if settings.public_url:
        return settings.public_url
    parts = urlsplit(request_url)
    scheme = _first(headers.get("X-Forwarded-Proto")) or parts.scheme
    host = _first(headers.get("X-Forwarded-Host")) or parts.netloc
    if scheme not in ("http", "https") or not _HOST_RE.fullmatch(host):
        return None
    return urlunsplit((scheme, host, parts.path, parts.query, ""))


def _read_body(headers: Headers, body: IO[bytes]) -> bytes:
    """At most MAX_BODY bytes; a larger body, announced or not, is refused without reading it all."""
    length = headers.get("Content-Length") or ""
    if length.isdigit() and int(length) > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    raw = body.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    return raw


def _read_form(headers: Headers, body: IO[bytes]) -> list[tuple[str, str]]:
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise Rejected(415, f"expected {_FORM}, got {content_type or 'no Content-Type'}")
    raw = _read_body(headers, body)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "form body is not valid UTF-8") from None
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise Rejected(400, f"more than {MAX_FIELDS} form fields") from None


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
        signed_url = public_url(settings, url, headers)
        if signed_url is None or not signature.is_valid(settings.signing_key, signed_url, pairs, sig):
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
    elif service.queue is not None:
        outcome = service.queue.enqueue(sid, source="callback")
    else:
        outcome = service.archiver.archive(sid)
    outcome.call_sid = outcome.call_sid or form.get("CallSid") or None
    http_status = 200 if outcome.ok else 503
    audit(outcome, http_status=http_status, callback_status=status)
    return Reply(http_status, reply_body(outcome))


def reply_body(outcome: Outcome) -> dict[str, Any]:
    """What a caller is told: the outcome and where it is, a short error code; the detail is in the audit line."""
    fields = outcome.fields()
    keys = ("outcome", "recording_sid", "audio_uri", "metadata_uri", "deleted")
    body = {k: fields[k] for k in keys if k in fields}
    if outcome.error_code:
        body["error"] = outcome.error_code
    return body


def _window(settings: Settings, body: bytes) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    default_since = now - timedelta(hours=settings.reconcile_lookback_hours)
    if not body.strip():
        return default_since, now
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        since = parse_when(data["since"]) if data.get("since") else default_since
        until = parse_when(data["until"]) if data.get("until") else now
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise Rejected(400, f'body must be {{"since": ISO 8601, "until": ISO 8601}}: {str(exc)[:120]}') from None
    if since >= until:
        raise Rejected(400, "since must be before until")
    if until - since > timedelta(days=settings.reconcile_max_window_days):
        raise Rejected(
            400, f"window over RECONCILE_MAX_WINDOW_DAYS ({settings.reconcile_max_window_days:g}): use backfill"
        )
    return since, until


def check_caller(service: Service, headers: Headers) -> None:
    """Deployed, a private entry point serves only its one caller's Google-signed OIDC token."""
    if not service.settings.deployed:
        return
    if service.invoker is None:
        raise Rejected(403, "INVOKER_AUDIENCE and INVOKER_SERVICE_ACCOUNT are not set: every caller is refused")
    try:
        service.invoker.verify(headers.get("Authorization"))
    except Unauthorized as exc:
        raise Rejected(403, f"caller not authorized: {str(exc)[:200]}") from None
    except CertsUnavailable as exc:
        raise Rejected(503, str(exc)[:200]) from None


def _log_rejected(what: str, exc: Rejected) -> None:
    log = get_logger()
    report = log.error if exc.status >= 500 else log.warning
    report(f"{what} rejected", outcome="rejected", http_status=exc.status, reason=exc.reason)


def handle_task(service: Service, method: str, headers: Headers, body: IO[bytes]) -> Reply:
    """Cloud Tasks' delivery of one recording: 2xx once retrying cannot change the result, 503 to be retried.

    A permanent failure (SignalWire refused the recording for good) answers 200 so the queue stops,
    and logs at ERROR like any failure; the recording stays missing, so the sweep keeps reporting it.
    """
    bind_request(headers)
    try:
        check_caller(service, headers)
        if method != "POST":
            raise Rejected(405, "only POST delivers a task", {"Allow": "POST"})
        try:
            task = TaskBody.parse(_read_body(headers, body))
        except ValueError as exc:
            raise Rejected(400, str(exc)) from None
    except Rejected as exc:
        _log_rejected("task", exc)
        return Reply(exc.status, {"outcome": "rejected", "reason": exc.reason}, exc.headers)

    listed = {"date_created": task.date_created} if task.date_created else None
    outcome = service.archiver.archive(task.recording_sid, listed)
    http_status = 200 if outcome.ok or not outcome.retryable else 503
    retries = headers.get("X-CloudTasks-TaskRetryCount") or ""
    audit(
        outcome,
        http_status=http_status,
        source=task.source,
        task_retry_count=int(retries[:6]) if retries[:6].isdigit() else None,
    )
    reply = reply_body(outcome)
    if not outcome.ok:
        reply["retryable"] = outcome.retryable
    return Reply(http_status, reply)


def handle_sweep(service: Service, method: str, headers: Headers, body: IO[bytes]) -> Reply:
    """Cloud Scheduler's hourly call: archive what callbacks missed, answer a summary, 500 if any failed."""
    bind_request(headers)
    log = get_logger()
    try:
        check_caller(service, headers)
        if method != "POST":
            raise Rejected(405, "only POST starts a sweep", {"Allow": "POST"})
        since, until = _window(service.settings, _read_body(headers, body))
    except Rejected as exc:
        _log_rejected("sweep", exc)
        return Reply(exc.status, {"outcome": "rejected", "reason": exc.reason}, exc.headers)

    def acted_on(outcome: Outcome) -> None:
        if outcome.outcome != "already_archived" or "deleted" in outcome.extra:
            audit(outcome, source="sweep")

    settings = service.settings
    store = service.archiver.store
    problems = []
    try:
        resume = progress.load(
            store, settings.project_id, datetime.now(UTC), timedelta(days=settings.reconcile_max_window_days)
        )
    # Unreadable progress must not stop this run's own window; it is reported, and the run goes on.
    except Exception as exc:
        resume = None
        problems.append(f"reading sweep progress failed: {type(exc).__name__}: {str(exc)[:300]}")
    report = sweep(
        service.archiver,
        since,
        until,
        concurrency=settings.reconcile_concurrency,
        deadline_s=settings.reconcile_deadline_s,
        on_outcome=acted_on,
        resume=resume,
        enqueue=service.queue.enqueue if service.queue else None,
    )
    if report.resume_next != resume:
        try:
            progress.save(store, settings.project_id, report.resume_next, datetime.now(UTC))
        except Exception as exc:
            problems.append(f"recording sweep progress failed: {type(exc).__name__}: {str(exc)[:300]}")
    report.failed.extend({"sid": "", "error": problem} for problem in problems)
    summary = report.summary()
    http_status = 200 if report.ok else 500
    summary["outcome"] = "sweep_failed" if not report.ok else ("sweep_incomplete" if report.remaining else "sweep_ok")
    # `missed_by_callbacks` feeds the alert on recordings that only the sweep caught.
    fields = {**summary, "http_status": http_status, "missed_by_callbacks": len(report.archived) + len(report.queued)}
    if not report.ok:
        log.error("sweep finished with failures", **fields)
    elif report.remaining:
        log.warning("sweep stopped before its deadline; the rest is left for the next run", **fields)
    elif report.unlisted_days:
        log.warning("sweep could not list the archive; it checked those days one recording at a time", **fields)
    else:
        log.info("sweep finished", **fields)
    return Reply(http_status, summary)
