"""Shared fixtures: a real fake-gcs-server, a fresh bucket per test, the SignalWire stand-in."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from archiver import config, signature
from archiver.auth import InvokerCheck
from archiver.logging import configure
from archiver.service import Service
from archiver.signalwire import RetryPolicy
from archiver.storage import GcsStore, LocalStore, Store
from archiver.webhook import Reply, handle_callback
from localspace.processes import ROOT, create_tasks_queue, free_port, start_strict_gcs, start_tasks_emulator, stop
from localspace.space import Space
from localspace.strictgcs import GCS_MUTATION_INTERVAL_S, StrictGcs

# No test may reach Google: google-auth must not probe the metadata server, and if it did, find nothing.
os.environ["NO_GCE_CHECK"] = "True"
os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_IP"] = f"127.0.0.1:{free_port()}"

SIGNING_KEY = "PSK_test_signing_key_0123456789"
TOKEN = "PT_secret_api_token_abcdef"
CALLBACK_URL = "https://archiver.example.com/archive_recording"
TASKS_LOCATION = "projects/test-project/locations/here"


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
    return storage.Client(project="test", credentials=AnonymousCredentials())


@pytest.fixture
def space() -> Iterator[Space]:
    standin = Space(token=TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture(autouse=True)
def _json_logs() -> None:
    configure([TOKEN, SIGNING_KEY], console=False)


def env_for(space: Space, **overrides: str) -> dict[str, str]:
    env = {
        "SIGNALWIRE_SPACE_URL": space.url,
        "SIGNALWIRE_PROJECT_ID": space.project_id,
        "SIGNALWIRE_API_TOKEN": TOKEN,
        "SIGNALWIRE_SIGNING_KEY": SIGNING_KEY,
        "PUBLIC_URL": CALLBACK_URL,
        "RETRY_BUDGET_SECONDS": "1.5",
        "UPLOAD_CHUNK_MIB": "1",
    }
    env.update(overrides)
    return env


class Harness:
    """A Service wired to the stand-in and a store, plus helpers to send signed callbacks."""

    def __init__(
        self, space: Space, store: Store, settings: config.Settings, *, invoker: InvokerCheck | None = None
    ) -> None:
        """Built as production is: with the test's store, a retry policy that does not wait, any caller check."""
        self.space = space
        self.store = store
        self.settings = settings
        self.sleeps: list[float] = []
        policy = RetryPolicy(settings.retry_budget_s, initial_s=0.01, cap_s=0.05, sleep=self._sleep)
        self.service = Service.from_settings(settings, store=store, policy=policy, invoker=invoker, final_wait_s=0.5)
        self.archiver = self.service.archiver

    def _sleep(self, seconds: float) -> None:
        # Record what the policy asked for, but do not make the suite wait out a Retry-After.
        self.sleeps.append(seconds)
        time.sleep(min(seconds, 0.02))

    def form(self, sid: str, status: str = "completed", **extra: str) -> dict[str, str]:
        return self.space.status_callback(sid, status) | extra

    def post(
        self,
        fields: dict[str, str],
        *,
        url: str = CALLBACK_URL,
        key: str | None = SIGNING_KEY,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        body = urlencode(fields).encode()
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))}
        if key is not None:
            all_headers["X-SignalWire-Signature"] = signature.compute(key, url, fields.items())
        all_headers.update(headers or {})
        return handle_callback(self.service, method, url, all_headers, io.BytesIO(body))

    def post_event(
        self,
        event: dict[str, Any],
        *,
        url: str = CALLBACK_URL,
        key: str | None = SIGNING_KEY,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A JSON status event as SignalWire POSTs it, signed hex over URL + raw body (unsigned when key is None)."""
        raw = json.dumps(event).encode() if body is None else body
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
        if key is not None:
            all_headers["X-SignalWire-Signature"] = signature.compute_hex(key, url, raw)
        all_headers.update(headers or {})
        return handle_callback(self.service, "POST", url, all_headers, io.BytesIO(raw))

    def get(self, fields: dict[str, str], *, base: str = CALLBACK_URL, key: str | None = SIGNING_KEY) -> Reply:
        """A GET callback: the fields in the query string, signed over the full URL with nothing appended."""
        url = f"{base}{'&' if '?' in base else '?'}{urlencode(fields)}"
        headers = {} if key is None else {"X-SignalWire-Signature": signature.compute(key, url, ())}
        return handle_callback(self.service, "GET", url, headers, io.BytesIO(b""))


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


def import_main(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the entry points in a fresh interpreter, as Cloud Functions does at startup."""
    return subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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


def stored(harness: Harness) -> dict[str, bytes]:
    """Every object in a harness's bucket, name → bytes."""
    store = harness.store
    assert isinstance(store, GcsStore)
    return {blob.name: blob.download_as_bytes() for blob in store._bucket.list_blobs()}


def only_line(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one audit line printed since the last capture."""
    lines = audit_lines(capsys.readouterr().out)
    assert len(lines) == 1, lines
    return lines[0]


def audit_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def run_archiver(harness: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m archiver ARGS` in a process of its own, configured for the harness's space and archive."""
    env = env_for(harness.space, ARCHIVE_URI=harness.settings.archive_uri)
    return subprocess.run(
        [sys.executable, "-m", "archiver", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
