"""Structured audit logging: JSON lines Cloud Logging understands, or console output in a terminal."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from archiver.display import terminal

if TYPE_CHECKING:
    from archiver.outcome import Outcome

_SEVERITY = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR", "critical": "CRITICAL"}
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD_TRACE_RE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=(\d))?")
_REDACTED = "[REDACTED]"


class Headers(Protocol):
    """Case-insensitive header lookup, as werkzeug's Headers offers."""

    def get(self, key: str, /) -> str | None: ...


class _Redactor:
    """Replaces every configured secret wherever it appears in a log line's values."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, _REDACTED)
            return value
        if isinstance(value, Mapping):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self.secrets:
            return event
        return {k: self._scrub(v) for k, v in event.items()}


_redactor = _Redactor()


def _severity(_logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["severity"] = _SEVERITY.get(event.pop("level", name), "DEFAULT")
    return event


def _terminal_safe(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # The console renderer prints strings as they are (containers go through repr, which escapes already).
    return {k: terminal(v) if isinstance(v, str) else v for k, v in event.items()}


def configure(secrets: Iterable[str] = (), *, console: bool | None = None) -> None:
    """Set up structlog once per process; `console` defaults to True in an interactive terminal."""
    _redactor.secrets = tuple(s for s in secrets if s)
    if console is None:
        console = sys.stdout.isatty() and not os.environ.get("K_SERVICE")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        structlog.processors.format_exc_info,
        _redactor,
    ]
    renderer: list[Any]
    if console:
        renderer = [_terminal_safe, structlog.dev.ConsoleRenderer(timestamp_key="time")]
    else:
        renderer = [_severity, structlog.processors.EventRenamer("message"), structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=shared + renderer,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )


def trace_fields(headers: Headers, project: str | None) -> dict[str, Any]:
    """Cloud Logging trace correlation from `traceparent` or `X-Cloud-Trace-Context`."""
    trace_id = span_id = None
    sampled = False
    if match := _TRACEPARENT_RE.match((headers.get("traceparent") or "").strip().lower()):
        trace_id, span_id, sampled = match.group(1), match.group(2), int(match.group(3), 16) & 1 == 1
    elif match := _CLOUD_TRACE_RE.match((headers.get("X-Cloud-Trace-Context") or "").strip()):
        trace_id = match.group(1).lower()
        # A span id is an unsigned 64-bit number; anything larger is dropped, not allowed to break the request.
        span = int(match.group(2)) if match.group(2) else 0
        span_id = format(span, "016x") if 0 < span < 2**64 else None
        sampled = match.group(3) == "1"
    if not trace_id:
        return {}
    fields: dict[str, Any] = {
        "logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}" if project else trace_id,
        "logging.googleapis.com/trace_sampled": sampled,
    }
    if span_id:
        fields["logging.googleapis.com/spanId"] = span_id
    return fields


def bind_request(headers: Headers) -> None:
    """Start a request's log context afresh: gunicorn threads are reused across requests."""
    structlog.contextvars.clear_contextvars()
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
    structlog.contextvars.bind_contextvars(**trace_fields(headers, project))


def get_logger() -> Any:
    return structlog.get_logger("archiver")


def audit(outcome: Outcome, **extra: Any) -> None:
    """The audit line for one recording: INFO when it ended well, ERROR when it failed."""
    fields = {**outcome.fields(), **extra}
    if outcome.ok:
        get_logger().info(f"recording {outcome.outcome.replace('_', ' ')}", **fields)
    elif outcome.outcome == "corrupt":
        get_logger().error("archived recording disagrees with its manifest", **fields)
    else:
        get_logger().error("recording archive failed", **fields)
