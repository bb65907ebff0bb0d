"""Shared fixtures: a real fake-gcs-server, a fresh bucket per test, the SignalWire stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.cloud import storage

from archiver import config
from archiver.logging import configure
from archiver.storage import GcsStore, LocalStore, Store
from localspace.processes import (
    ROOT,
    create_tasks_queue,
    free_port,
    start_function,
    start_strict_gcs,
    start_tasks_emulator,
    stop,
)
from localspace.space import Space
from localspace.strictgcs import GCS_MUTATION_INTERVAL_S, StrictGcs
from tests import helpers
from tests.helpers import SIGNING_KEY, TASKS_LOCATION, TOKEN, Function, Harness, StartFunction, env_for

# No test may reach Google: google-auth must not probe the metadata server, and if it did, find nothing.
os.environ["NO_GCE_CHECK"] = "True"
os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_IP"] = f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def gcs_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-gcs")


@pytest.fixture(scope="session")
def strict_gcs(gcs_workdir: Path) -> Iterator[StrictGcs]:
    """fake-gcs-server behind the proxy that enforces what real GCS does and the fake does not.

    Level info logs every request, so tests can count requests at the server (processes.gcs_requests).
    """
    process, proxy = start_strict_gcs(gcs_workdir, log_level="info")
    # Off by default: the client waits out each 429 for a second or more. STRICT_GCS_RATE_LIMIT=1 runs
    # the whole suite under GCS's one write per second per object name.
    if os.environ.get("STRICT_GCS_RATE_LIMIT") == "1":
        proxy.mutation_interval_s = GCS_MUTATION_INTERVAL_S
    yield proxy
    proxy.stop()
    stop(process)


@pytest.fixture
def strict(strict_gcs: StrictGcs) -> Iterator[StrictGcs]:
    """The session's strict proxy; a rate limit a test sets is put back afterwards."""
    interval = strict_gcs.mutation_interval_s
    yield strict_gcs
    strict_gcs.mutation_interval_s = interval


@pytest.fixture(scope="session")
def gcs_url(strict_gcs: StrictGcs) -> Iterator[str]:
    """Where every test's GCS client goes: the strict proxy, never the fake directly."""
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = strict_gcs.url
    yield strict_gcs.url
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


@pytest.fixture(scope="session")
def gcs_client(gcs_url: str) -> storage.Client:
    return helpers.gcs_client()


@pytest.fixture
def space() -> Iterator[Space]:
    standin = Space(token=TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture(autouse=True)
def _json_logs() -> None:
    configure([TOKEN, SIGNING_KEY], console=False)


@pytest.fixture
def make_harness(space: Space, tmp_path: Path, gcs_client: storage.Client) -> Callable[..., Harness]:
    def make(local: bool = False, **overrides: str) -> Harness:
        if local:
            overrides.setdefault("ARCHIVE_URI", str(tmp_path / "archive"))
        else:
            overrides.setdefault("ARCHIVE_URI", f"gs://archive-{uuid.uuid4().hex[:12]}/calls")
        settings = config.load(env_for(space, **overrides))
        store: Store
        if settings.archive_uri.startswith("gs://"):
            bucket_name, _, prefix = settings.archive_uri[5:].partition("/")
            gcs_client.create_bucket(bucket_name)
            store = GcsStore(bucket_name, prefix, settings.chunk_size, client=gcs_client)
        else:
            store = LocalStore(settings.archive_uri, settings.chunk_size)
        return Harness(space, store, settings)

    return make


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@pytest.fixture
def deleting(make_harness: Callable[..., Harness]) -> Harness:
    """A harness whose deployment deletes SignalWire's copy after a verified archive."""
    return make_harness(DELETE_AFTER_ARCHIVE="true")


@pytest.fixture(scope="session")
def tasks_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcloud-tasks-emulator's host:port; it retries a failing task 5 times, then drops it."""
    process, host = start_tasks_emulator(tmp_path_factory.mktemp("tasks") / "emulator.log")
    yield host
    stop(process)


@pytest.fixture
def tasks_queue(tasks_emulator: str) -> str:
    """A queue of its own for each test, created through the real client."""
    return create_tasks_queue(tasks_emulator, f"{TASKS_LOCATION}/queues/q-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def function_process(tmp_path: Path) -> Iterator[StartFunction]:
    """Starts functions-framework processes as Cloud Functions runs them, each logging to a file of its own,
    and stops them all at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(target: str = "archive_recording", **env: str) -> Function:
        log = tmp_path / f"{target}-{len(processes)}.log"
        # PORT, as Cloud Run sets it, picks the port; a free one otherwise.
        port = int(env.pop("PORT")) if "PORT" in env else None
        process, url = start_function(env, target=target, port=port, log_path=log)
        processes.append(process)
        return Function(url, log)

    yield start
    for process in reversed(processes):
        stop(process)


@pytest.fixture
def space_process() -> Iterator[list[str]]:
    """`make space`: the stand-in as a process of its own on a free port; yields the lines it prints first."""
    command = [sys.executable, "-m", "localspace", "--port", str(free_port())]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    assert process.stdout is not None
    yield [process.stdout.readline().decode() for _ in range(14)]
    stop(process)
