"""The server functions-framework runs the entry points in: who can reach it, how long a request line it reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archiver.config import PRIVATE_TARGETS, ConfigError, Settings, is_loopback

# gunicorn's own ceiling for a request line (its default is 4094; functions-framework sets 0, unlimited, and
# gunicorn then reads a line in time quadratic in its length: 4 MiB took 2 s of CPU, 50 MB 288 s). A
# callback's GET query is well under 2 KiB.
MAX_REQUEST_LINE = 8190
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
    if target not in PRIVATE_TARGETS or checked or is_loopback(host) or settings.allow_open_private:
        return
    raise ConfigError(
        f"{target} would answer anyone reaching {host} without a token: set INVOKER_AUDIENCE and "
        "INVOKER_SERVICE_ACCOUNT, listen on 127.0.0.1 (--host 127.0.0.1), or set ALLOW_OPEN_PRIVATE_ENDPOINT=true "
        "if that is deliberate"
    )


def cap_request_line() -> None:
    """Make functions-framework's gunicorn refuse (400) a request line over MAX_REQUEST_LINE before any work.

    functions-framework builds its gunicorn application after importing main.py and offers no setting
    for this, so its configuration step is extended here; without gunicorn (Windows, --debug) werkzeug's
    server caps a request line at 64 KiB itself.
    """
    try:
        from functions_framework._http import gunicorn as ff_gunicorn
    except ImportError:
        return
    application: Any = ff_gunicorn.GunicornApplication
    if getattr(application, "request_line_capped", False):
        return
    configure = application.load_config

    def load_config(self: Any) -> None:
        configure(self)
        self.cfg.set("limit_request_line", MAX_REQUEST_LINE)

    application.load_config = load_config
    application.request_line_capped = True
