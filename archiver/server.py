"""The server functions-framework runs the entry points in: who may reach it, how much and how slowly it reads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from archiver import deadline
from archiver.config import PRIVATE_TARGETS, ConfigError, Settings, is_loopback_host

# gunicorn's own ceiling for a request line (its default is 4094; functions-framework sets 0, unlimited, and
# gunicorn then reads a line in time quadratic in its length: 4 MiB took 2 s of CPU, 50 MB 288 s). A
# callback's GET query is well under 2 KiB.
MAX_REQUEST_LINE = 8190
# How long a client has, from the moment a worker thread takes its connection (where gunicorn first waits
# up to 5 s for a byte), to send the request's head and the body the entry point reads (at most 64 KiB).
# SignalWire sends a callback in one go.
REQUEST_READ_S = 10.0
# functions-framework's --host default: every address.
_FF_DEFAULT_HOST = "0.0.0.0"  # noqa: S104 (what functions-framework binds, named so it can be refused)


def bind_host(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The address functions-framework listens on, read as its command line reads it: --host, else HOST."""
    host = env.get("HOST", "").strip() or _FF_DEFAULT_HOST
    for position, arg in enumerate(argv):
        if arg == "--host" and position + 1 < len(argv):
            host = argv[position + 1]
        elif arg.startswith("--host="):
            host = arg.partition("=")[2]
    return host.strip().strip("[]")


def check_exposure(settings: Settings, target: str, host: str) -> None:
    """Refuse to serve a private entry point that would answer anyone on the network without a token.

    Locally a sweep or worker without INVOKER_* checks no token: fine on 127.0.0.1, not on 0.0.0.0,
    where anyone who can reach the port could start sweeps (and deletes, when enabled).
    """
    checked = settings.invoker_audience is not None  # and so INVOKER_SERVICE_ACCOUNT: config sets both or neither
    if target not in PRIVATE_TARGETS or checked or is_loopback_host(host) or settings.allow_open_private:
        return
    raise ConfigError(
        f"{target} would answer anyone reaching {host} without a token: set INVOKER_AUDIENCE and "
        "INVOKER_SERVICE_ACCOUNT, listen on 127.0.0.1 (--host 127.0.0.1), or set ALLOW_OPEN_PRIVATE_ENDPOINT=true "
        "if that is deliberate"
    )


_reading = threading.local()


def _finish_reading() -> None:
    exchange: deadline.Exchange | None = getattr(_reading, "exchange", None)
    if exchange is not None:
        exchange.finish()


class _BodyRead:
    """The request body as the app reads it: once it has all of it, the read deadline is over."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._body.read(size)
        if size is None or size < 0 or len(data) < size:
            _finish_reading()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)


def _bounded_reading(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app, ending the read deadline once it has its body or starts its answer, never later:
    the work that follows (a long recording) is never cut."""

    def bounded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        has_body = environ.get("CONTENT_LENGTH", "") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ
        if has_body:
            environ["wsgi.input"] = _BodyRead(environ["wsgi.input"])
        else:
            _finish_reading()

        def start(*args: Any) -> Any:
            _finish_reading()
            return start_response(*args)

        return app(environ, start)

    return bounded


def _read_deadline_worker() -> type:
    from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

    class ReadDeadlineWorker(ThreadWorker):  # type: ignore[misc]
        """gunicorn's thread worker with one wall-clock deadline for reading each request.

        gunicorn reads a request's head, and the app its body, from a blocking socket without a
        timeout: eight clients sending one byte each held all eight threads of `make run` for good.
        Here archiver.deadline's watchdog shuts such a connection down when the head and body are
        not in within REQUEST_READ_S.
        """

        def load_wsgi(self) -> None:
            super().load_wsgi()
            self.wsgi = _bounded_reading(self.wsgi)  # type: ignore[has-type]

        def handle(self, conn: Any) -> Any:
            with deadline.limit(REQUEST_READ_S) as exchange:
                exchange.attach(conn.sock)
                _reading.exchange = exchange
                try:
                    return super().handle(conn)
                finally:
                    _reading.exchange = None

    return ReadDeadlineWorker


def harden() -> None:
    """Make functions-framework's gunicorn refuse (414) a request line over MAX_REQUEST_LINE before any work,
    and give each request REQUEST_READ_S to arrive.

    functions-framework builds its gunicorn application after importing main.py and offers no setting
    for either, so its configuration step is extended here; without gunicorn (Windows, --debug) werkzeug's
    server caps a request line at 64 KiB itself.
    """
    try:
        from functions_framework._http import gunicorn as ff_gunicorn
    except ImportError:
        return
    application: Any = ff_gunicorn.GunicornApplication
    if getattr(application, "archiver_hardened", False):
        return
    configure = application.load_config

    def load_config(self: Any) -> None:
        configure(self)
        self.cfg.set("limit_request_line", MAX_REQUEST_LINE)
        # Unless functions-framework chose a worker of its own (THREADED_TIMEOUT_ENABLED), bound the reading.
        if "worker_class" not in self.options:
            self.cfg.set("worker_class", _read_deadline_worker())

    application.load_config = load_config
    application.archiver_hardened = True
