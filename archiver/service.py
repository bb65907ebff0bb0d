"""The composition root: `Service.from_settings` builds every part a process uses, once, from its settings."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from archiver import config, server
from archiver.archive import FINAL_WAIT_S, Archiver
from archiver.auth import InvokerCheck
from archiver.config import Settings
from archiver.laml import LamlSource
from archiver.logging import configure
from archiver.recordings import Api
from archiver.relay import RelaySource
from archiver.signalwire import RecordingSource, RetryPolicy, SpaceHttp
from archiver.storage import Store, open_store
from archiver.tasks import TaskQueue


@dataclass(frozen=True)
class Service:
    """Everything a process needs to answer callbacks, built once at startup."""

    settings: Settings
    archiver: Archiver
    # Queued mode: callbacks and the sweep create tasks instead of archiving inline.
    queue: TaskQueue | None = None
    # Deployed: who may call the private entry points.
    invoker: InvokerCheck | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        sources: Mapping[str, RecordingSource] | None = None,
        policy: RetryPolicy | None = None,
        queue: TaskQueue | None = None,
        invoker: InvokerCheck | None = None,
        final_wait_s: float = FINAL_WAIT_S,
    ) -> Service:
        """Each part as `settings` configure it, unless the caller brings its own (a test's store, the CLI's
        retry policy that reports each wait): production, the CLI and the tests all build here, and
        nothing changes a Service once built."""
        archiver = Archiver(
            settings,
            open_store(settings.archive_uri, settings.chunk_size) if store is None else store,
            open_sources(settings) if sources is None else sources,
            RetryPolicy(settings.retry_budget_s) if policy is None else policy,
            final_wait_s,
        )
        if queue is None and settings.tasks_queue:
            queue = TaskQueue(settings)
        if invoker is None and settings.invoker_audience and settings.invoker_service_account:
            invoker = InvokerCheck(settings.invoker_audience, settings.invoker_service_account)
        return cls(settings, archiver, queue, invoker)


def open_sources(settings: Settings) -> dict[str, RecordingSource]:
    """One source per SignalWire API, sharing one HTTP session: LaML first (the sweep lists in this order)."""
    http = SpaceHttp(settings)
    return {Api.LAML: LamlSource(http, settings), Api.RELAY: RelaySource(http, settings)}


def start_function(environ: Mapping[str, str], argv: Sequence[str]) -> Service:
    """A function process's start: its server hardened, its configuration read and checked against the
    entry point and address it serves, its Service built, logging set up, configuration warnings printed.

    A configuration error ends the process with one clear line instead of a traceback, and never a 500 per request.
    """
    server.harden()
    try:
        settings = config.load(environ)
        service = Service.from_settings(settings)
        server.check_exposure(settings, environ.get("FUNCTION_TARGET", ""), server.bind_host(argv, environ))
    except config.ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    configure(settings.secrets)
    for warning in config.warnings(settings):
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    return service
