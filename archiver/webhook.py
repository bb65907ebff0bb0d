"""HTTP requests into answers: the recording status callback, and the scheduled sweep."""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from archiver import callbacks, progress, signature
from archiver.archive import Archiver
from archiver.auth import CertsUnavailable, InvokerCheck, Unauthorized
from archiver.callbacks import Callback
from archiver.config import Settings
from archiver.laml import LamlSource
from archiver.logging import Headers, audit, bind_request, get_logger
from archiver.outcome import Outcome
from archiver.reconcile import parse_when, sweep
from archiver.relay import RelaySource
from archiver.signalwire import RecordingSource, RetryPolicy, SpaceHttp, whole_number
from archiver.storage import open_store
from archiver.sweep_report import failure
from archiver.tasks import TaskBody, TaskQueue

MAX_BODY = 64 * 1024
MAX_FIELDS = 256
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
# The query parameter a status_url carries CALLBACK_TOKEN in.
TOKEN_PARAM = "token"  # noqa: S105 (a parameter name, not a secret)
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
        archiver = Archiver(settings, store, open_sources(settings), RetryPolicy(settings.retry_budget_s))
        queue = TaskQueue(settings) if settings.tasks_queue else None
        invoker = None
        if settings.invoker_audience and settings.invoker_service_account:
            invoker = InvokerCheck(settings.invoker_audience, settings.invoker_service_account)
        return cls(settings, archiver, queue, invoker)


def open_sources(settings: Settings) -> dict[str, RecordingSource]:
    """One source per SignalWire API, sharing one HTTP session: LaML first (the sweep lists in this order)."""
    http = SpaceHttp(settings)
    return {"laml": LamlSource(http, settings), "relay": RelaySource(http, settings)}


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def public_url(settings: Settings, request_url: str, headers: Headers) -> str | None:
    """The URL SignalWire signed: PUBLIC_URL's origin and path, else the request's as the proxy saw it.

    The query string is the request's own, verbatim: a GET callback's fields, a `bodySHA256` or a
    `token` are added to the configured URL's query by SignalWire or the operator. The fallback trusts
    X-Forwarded-* headers, which only a proxy of your own (a local tunnel) makes trustworthy; deployed,
    PUBLIC_URL is required. None when the forwarded host is not a host at all.
    """
    parts = urlsplit(request_url)
    if settings.public_url:
        public = urlsplit(settings.public_url)
        return urlunsplit(public._replace(query=parts.query or public.query))
    scheme = _first(headers.get("X-Forwarded-Proto")) or parts.scheme
    host = _first(headers.get("X-Forwarded-Host")) or parts.netloc
    if scheme not in ("http", "https") or not _HOST_RE.fullmatch(host):
        return None
    return urlunsplit((scheme, host, parts.path, parts.query, ""))


def _read_body(headers: Headers, body: IO[bytes]) -> bytes:
    """At most MAX_BODY bytes; a larger body, announced or not, is refused without reading it all."""
    length = whole_number(headers.get("Content-Length") or "")
    if length is not None and length > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    raw = body.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    return raw


def _content_type(headers: Headers) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _fields(text: bytes | str, where: str) -> list[tuple[str, str]]:
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise Rejected(400, f"{where} body is not valid UTF-8") from None
    try:
        return parse_qsl(decoded, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise Rejected(400, f"more than {MAX_FIELDS} {where} fields") from None


def _token_matches(settings: Settings, url: str) -> bool:
    """True when CALLBACK_TOKEN is set and the request URL carries it as `?token=`, compared in constant time."""
    if not settings.callback_token:
        return False
    given = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get(TOKEN_PARAM, "")
    return hmac.compare_digest(given.encode(), settings.callback_token.encode())


def read_callback(settings: Settings, method: str, url: str, headers: Headers, body: IO[bytes]) -> Callback:
    """Authenticate a callback, then parse it by its shape: a form POST, a GET, or a JSON event.

    Nothing is parsed for meaning before the signature (or, for JSON events only, CALLBACK_TOKEN) checks out.
    """
    if method not in ("GET", "POST"):
        raise Rejected(405, "only GET and POST callbacks are archived", {"Allow": "GET, POST"})
    if not settings.signing_keys and not settings.callback_token:
        raise Rejected(403, "SIGNALWIRE_SIGNING_KEY is not set: every callback is refused")
    signed_url = public_url(settings, url, headers)
    sig = headers.get("X-SignalWire-Signature") or headers.get("X-Twilio-Signature")
    shape: callbacks.Shape
    if method == "GET":
        shape, raw, pairs = "query", b"", _fields(urlsplit(url).query, "query")
        # The fields are in the signed URL already: nothing is appended.
        signed_fields: list[tuple[str, str]] | None = []
    else:
        content_type = _content_type(headers)
        if content_type not in (_FORM, _JSON):
            raise Rejected(415, f"expected {_FORM} or {_JSON}, got {content_type or 'no Content-Type'}")
        raw = _read_body(headers, body)
        shape = "form" if content_type == _FORM else "event"
        pairs = _fields(raw, "form") if shape == "form" else []
        signed_fields = pairs if shape == "form" else None
    position = None
    if signed_url is not None:
        position = signature.matching_key(
            settings.signing_keys, sig, lambda key: signature.expected_signatures(key, signed_url, raw, signed_fields)
        )
    # SignalWire's docs disagree on whether status_url events are signed: a URL secret may vouch instead.
    if position is None and not (shape == "event" and _token_matches(settings, url)):
        raise Rejected(403, "signature missing or invalid (is PUBLIC_URL the exact URL set at SignalWire?)")
    try:
        if shape == "event":
            return callbacks.from_event(raw, settings.project_id, position)
        return callbacks.from_fields(dict(pairs), settings.project_id, shape, position)
    except callbacks.Invalid as exc:
        raise Rejected(400, str(exc)) from None


def handle_callback(service: Service, method: str, url: str, headers: Headers, body: IO[bytes]) -> Reply:
    """Authenticate and parse whatever shape arrived, then act on the typed callback; one audit line always."""
    bind_request(headers)
    log = get_logger()
    settings = service.settings
    try:
        callback = read_callback(settings, method, url, headers, body)
    except Rejected as exc:
        log.warning("callback rejected", outcome="rejected", http_status=exc.status, reason=exc.reason)
        return Reply(exc.status, {"outcome": "rejected", "reason": exc.reason}, exc.headers)

    outcome = act(service, callback)
    http_status = 200 if outcome.ok else 503
    # Which key signed is recorded (never the key itself), so a rotation can be seen to be complete.
    signed = {"signing_key_position": callback.key_position} if callback.key_position is not None else {}
    audit(
        outcome,
        http_status=http_status,
        callback_status=callback.status,
        callback_shape=callback.shape,
        authenticated_by="signature" if signed else "callback_token",
        **signed,
    )
    return Reply(http_status, reply_body(outcome))


def act(service: Service, callback: Callback) -> Outcome:
    """The same for every shape: ignore what is not final, log what has no audio, archive the rest."""
    sid = callback.recording_id or ""
    project = service.settings.project_id
    if callback.kind == "unknown":
        # Undocumented words are not guessed at: SignalWire's own record of the recording decides below.
        get_logger().warning(
            "callback names an unknown recording status",
            status_word=callback.status,
            api=callback.source,
            recording_sid=sid or None,
        )
    # Signed means SignalWire named this recording; a CALLBACK_TOKEN holder can name any UUID.
    vouched = callback.key_position is not None
    if callback.kind == "not_final" or (callback.kind == "unknown" and not sid):
        outcome = Outcome("ignored", sid, project, api=callback.source, recording_status=callback.status)
    elif callback.kind == "no_audio":
        outcome = Outcome("no_audio", sid, project, api=callback.source, recording_status=callback.status)
    elif service.queue is not None:
        outcome = service.queue.enqueue(sid, source="callback" if vouched else "token_callback", api=callback.source)
    else:
        outcome = service.archiver.archive(sid, api=callback.source, format_hint=callback.format_hint, vouched=vouched)
    outcome.call_sid = outcome.call_sid or callback.call_id
    return outcome


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
    """With INVOKER_* set (required when deployed), a private entry point serves only its one caller's
    Google-signed OIDC token, wherever it runs; without them, only an undeployed process serves anyone."""
    if service.invoker is None:
        if service.settings.deployed:
            raise Rejected(403, "INVOKER_AUDIENCE and INVOKER_SERVICE_ACCOUNT are not set: every caller is refused")
        return
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

    listed = {"date_created": task.date_created, "api": task.api} if task.date_created else None
    outcome = service.archiver.archive(
        task.recording_sid, listed, api=task.api, vouched=task.source != "token_callback"
    )
    http_status = 200 if outcome.ok or not outcome.retryable else 503
    retries = headers.get("X-CloudTasks-TaskRetryCount") or ""
    audit(
        outcome,
        http_status=http_status,
        source=task.source,
        task_retry_count=whole_number(retries, max_digits=6),
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
        if outcome.outcome != "already_archived" or outcome.deletion is not None:
            audit(outcome, source="sweep")

    settings = service.settings
    store = service.archiver.store
    problems = []
    try:
        resume, unreadable = progress.load(
            store, settings.project_id, datetime.now(UTC), timedelta(days=settings.reconcile_max_window_days)
        )
    # Unreadable progress must not stop this run's own window; it is reported, and the run goes on.
    except Exception as exc:
        resume, unreadable = progress.Progress(), f"{type(exc).__name__}: {str(exc)[:300]}"
    if unreadable:
        problems.append(f"reading sweep progress failed: {unreadable}")
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
    owed = {api: passes for api, passes in report.owed.items() if passes}
    left = progress.Progress(owed, resume.incomplete_runs + 1 if owed else 0)
    # A fresh record also replaces an unreadable one, so it is reported once.
    if left != resume or unreadable:
        try:
            progress.save(store, settings.project_id, left, datetime.now(UTC))
        except Exception as exc:
            problems.append(f"recording sweep progress failed: {type(exc).__name__}: {str(exc)[:300]}")
    report.failed.extend(failure("", problem) for problem in problems)
    summary = report.summary()
    summary["incomplete_runs"] = left.incomplete_runs
    http_status = 200 if report.ok else 500
    incomplete = report.remaining or owed
    summary["outcome"] = "sweep_failed" if not report.ok else ("sweep_incomplete" if incomplete else "sweep_ok")
    # `missed_by_callbacks` feeds the alert on recordings that only the sweep caught.
    fields = {**summary, "http_status": http_status, "missed_by_callbacks": report.archived.total + report.queued.total}
    if not report.ok:
        log.error("sweep finished with failures", **fields)
    elif incomplete:
        log.warning("sweep stopped before its deadline; the rest is left for the next run", **fields)
    elif report.unknown_statuses:
        log.warning("sweep met recording statuses SignalWire does not document; those were not archived", **fields)
    elif report.unlisted_days:
        log.warning("sweep could not list the archive; it checked those days one recording at a time", **fields)
    else:
        log.info("sweep finished", **fields)
    if left.incomplete_runs > progress.STUCK_AFTER_RUNS:
        # The alert `sweep_window_stuck` matches this line: a window no run finishes is a window never archived.
        log.error(
            f"sweep window incomplete {left.incomplete_runs} runs in a row",
            outcome="sweep_window_stuck",
            incomplete_runs=left.incomplete_runs,
            owed=summary["owed"],
        )
    return Reply(http_status, summary)
