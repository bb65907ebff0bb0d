"""The three HTTP handlers and what they share: the recording callback, the task worker, the sweep endpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from archiver import progress
from archiver.callbacks import Callback
from archiver.config import Settings
from archiver.inbound import Rejected, check_caller, read_body, read_callback
from archiver.logging import Headers, audit, bind_request, get_logger
from archiver.outcome import Outcome
from archiver.recordings import Trigger, whole_number
from archiver.service import Service
from archiver.sweep import parse_when, sweep
from archiver.sweep_report import failure
from archiver.tasks import TaskBody


@dataclass
class Reply:
    """What a handler answers: the HTTP status, a JSON body and any headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


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
            api=callback.api,
            recording_sid=sid or None,
        )
    # Signed means SignalWire named this recording; a CALLBACK_TOKEN holder can name any UUID.
    vouched = callback.key_position is not None
    if callback.kind == "not_final" or (callback.kind == "unknown" and not sid):
        outcome = Outcome("ignored", sid, project, api=callback.api, recording_status=callback.status)
    elif callback.kind == "no_audio":
        outcome = Outcome("no_audio", sid, project, api=callback.api, recording_status=callback.status)
    elif service.queue is not None:
        outcome = service.queue.enqueue(
            sid, source=Trigger.CALLBACK if vouched else Trigger.TOKEN_CALLBACK, api=callback.api
        )
    else:
        outcome = service.archiver.archive(sid, api=callback.api, format_hint=callback.format_hint, vouched=vouched)
    return replace(outcome, call_sid=outcome.call_sid or callback.call_id)


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
            task = TaskBody.parse(read_body(headers, body))
        except ValueError as exc:
            raise Rejected(400, str(exc)) from None
    except Rejected as exc:
        _log_rejected("task", exc)
        return Reply(exc.status, {"outcome": "rejected", "reason": exc.reason}, exc.headers)

    listed = {"date_created": task.date_created, "api": task.api} if task.date_created else None
    outcome = service.archiver.archive(
        task.recording_sid, listed, api=task.api, vouched=task.trigger != Trigger.TOKEN_CALLBACK
    )
    http_status = 200 if outcome.ok or not outcome.retryable else 503
    retries = headers.get("X-CloudTasks-TaskRetryCount") or ""
    audit(
        outcome,
        http_status=http_status,
        source=task.trigger,
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
        since, until = _window(service.settings, read_body(headers, body))
    except Rejected as exc:
        _log_rejected("sweep", exc)
        return Reply(exc.status, {"outcome": "rejected", "reason": exc.reason}, exc.headers)

    def acted_on(outcome: Outcome) -> None:
        if outcome.outcome != "already_archived" or outcome.deletion is not None:
            audit(outcome, source=Trigger.SWEEP)

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
