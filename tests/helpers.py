"""What test modules share that is not a fixture: keys, environments, the Harness, readers of what was stored."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from archiver import config
from archiver.auth import InvokerCheck
from archiver.service import Service
from archiver.signalwire import RetryPolicy
from archiver.storage import GcsStore, Store
from archiver.webhook import Reply, handle_callback
from localspace.processes import ROOT, gcs_requests
from localspace.signing import HEADER, Signed, sign_event, sign_form, sign_query
from localspace.space import Space

SIGNING_KEY = "PSK_test_signing_key_0123456789"
TOKEN = "PT_secret_api_token_abcdef"
CALLBACK_URL = "https://archiver.example.com/archive_recording"
TASKS_LOCATION = "projects/test-project/locations/here"
# The month every seeded recording falls in, as `sweep`/`verify` take it.
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))


def created(day: int, minute: int = 0) -> datetime:
    """A moment inside WINDOW: noon (and `minute`) on November `day`."""
    return datetime(2026, 11, day, 12, minute, tzinfo=UTC)


# The same month as the CLI takes it.
WINDOW_ARGS = ["--since", "2026-11-01", "--until", "2026-11-30"]


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


def cli_env(monkeypatch: pytest.MonkeyPatch, harness: Harness, **overrides: str) -> None:
    """The environment `cli.main` reads, for the harness's space and archive."""
    for key, value in env_for(harness.space, ARCHIVE_URI=harness.settings.archive_uri, **overrides).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")


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

    def send(self, signed: Signed, *, key: str | None, headers: dict[str, str] | None, method: str = "POST") -> Reply:
        """A signed request as the function receives it; unsigned when key is None, `headers` added last."""
        all_headers = dict(signed.headers)
        if key is None:
            del all_headers[HEADER]
        if signed.content_type is not None:
            all_headers["Content-Length"] = str(len(signed.body))
        all_headers.update(headers or {})
        return handle_callback(self.service, method, signed.url, all_headers, io.BytesIO(signed.body))

    def post(
        self,
        fields: dict[str, str],
        *,
        url: str = CALLBACK_URL,
        key: str | None = SIGNING_KEY,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        return self.send(sign_form(key or "", url, fields), key=key, headers=headers, method=method)

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
        return self.send(sign_event(key or "", url, event if body is None else body), key=key, headers=headers)

    def get(self, fields: dict[str, str], *, base: str = CALLBACK_URL, key: str | None = SIGNING_KEY) -> Reply:
        """A GET callback: the fields in the query string, signed over the full URL with nothing appended."""
        return self.send(sign_query(key or "", base, fields), key=key, headers=None, method="GET")


def gcs_client() -> storage.Client:
    """A google-cloud-storage client of the test's own, reaching fake-gcs-server through STORAGE_EMULATOR_HOST."""
    return storage.Client(project="test", credentials=AnonymousCredentials())


def bucket_of(harness: Harness) -> storage.Bucket:
    """The harness's bucket, seen through a client of the test's own rather than the store's."""
    store = harness.store
    assert isinstance(store, GcsStore)
    return gcs_client().bucket(store.bucket_name)


def blob_name(harness: Harness, key: str) -> str:
    """The object name a store key is written under (the archive's prefix, then the key)."""
    store = harness.store
    assert isinstance(store, GcsStore)
    return store.uri(key).removeprefix(f"gs://{store.bucket_name}/")


def blobs(harness: Harness) -> dict[str, storage.Blob]:
    """Every object in a harness's bucket, name → blob."""
    return {blob.name: blob for blob in bucket_of(harness).list_blobs()}


def stored(harness: Harness) -> dict[str, bytes]:
    """Every object in a harness's bucket, name → bytes."""
    return {name: blob.download_as_bytes() for name, blob in blobs(harness).items()}


def tamper(harness: Harness, sid: str, data: bytes) -> None:
    """Replace the stored audio, keeping its custom metadata (sha256 marker included)."""
    blob = next(b for b in blobs(harness).values() if b.name.endswith(f"{sid}.mp3"))
    replacement = bucket_of(harness).blob(blob.name)
    replacement.metadata = blob.metadata
    replacement.upload_from_string(data, content_type="audio/mpeg")


def only_line(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one audit line printed since the last capture."""
    lines = audit_lines(capsys.readouterr().out)
    assert len(lines) == 1, lines
    return lines[0]


def audit_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def log_lines(log: Path, skip: int = 0) -> list[dict[str, Any]]:
    """The audit lines a process wrote to its log, past its first `skip` lines."""
    return audit_lines("\n".join(log.read_text().splitlines()[skip:]))


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


def callback(space: Space, sid: str, status: str = "completed") -> dict[str, str]:
    """A cXML recording status callback's fields, as sent to a real process."""
    return {
        "AccountSid": space.project_id,
        "CallSid": str(uuid.uuid4()),
        "RecordingSid": sid,
        "RecordingStatus": status,
        "RecordingUrl": f"{space.url}/x",
    }


def signed_post(
    url: str, fields: dict[str, str], key: str = SIGNING_KEY, *, signed_for: str | None = None, timeout: float = 30
) -> requests.Response:
    """A cXML form POSTed to a real process, signed for `signed_for` (the URL it goes to by default)."""
    signed = sign_form(key, signed_for or url, fields)
    return requests.post(url, data=signed.body, headers=signed.headers, timeout=timeout)


def signed_event(url: str, event: dict[str, Any] | bytes, key: str = SIGNING_KEY) -> requests.Response:
    """A JSON status event POSTed to a real process, signed hex over the URL and the raw body."""
    signed = sign_event(key, url, event)
    return requests.post(url, data=signed.body, headers=signed.headers, timeout=60)


def signed_get(base: str, fields: dict[str, str], key: str = SIGNING_KEY, timeout: float = 30) -> requests.Response:
    """A GET callback to a real process: the fields in the query string, signed over the full URL."""
    signed = sign_query(key, base, fields)
    return requests.get(signed.url, headers=signed.headers, timeout=timeout)


class ServerCounts:
    """Requests counted where they arrive: fake-gcs-server's request log and the stand-in's own record."""

    def __init__(self, harness: Harness, workdir: Path) -> None:
        store = harness.store
        assert isinstance(store, GcsStore)
        self.bucket = store.bucket_name
        self.workdir = workdir
        self.space = harness.space
        self.gcs_mark = 0
        self.space_mark = 0

    def gcs_lines(self) -> list[str]:
        # The server logs a request as it finishes; wait until the log stops growing.
        lines = gcs_requests(self.workdir, self.bucket)
        while True:
            time.sleep(0.2)
            latest = gcs_requests(self.workdir, self.bucket)
            if len(latest) == len(lines):
                return latest
            lines = latest

    def start(self) -> None:
        self.gcs_mark = len(self.gcs_lines())
        self.space_mark = len(self.space.requests)

    def gcs(self) -> list[str]:
        return self.gcs_lines()[self.gcs_mark :]

    def signalwire(self) -> list[str]:
        return [f"{seen.method} {seen.path}" for seen in self.space.requests[self.space_mark :]]


def is_object_list(line: str, bucket: str) -> bool:
    return line.startswith(f"GET /storage/v1/b/{bucket}/o?")


def per_object(lines: list[str], bucket: str) -> list[str]:
    """Requests about one object (a listing's page token may name an object too, so listings are left out)."""
    return [line for line in lines if not is_object_list(line, bucket)]


@dataclass(frozen=True)
class Function:
    """A functions-framework process `function_process` started: where it answers and where it logs."""

    url: str
    log: Path


class StartFunction(Protocol):
    """`function_process`: starts `functions-framework --target TARGET` with ENV, stopped at teardown."""

    def __call__(self, target: str = "archive_recording", **env: str) -> Function: ...
