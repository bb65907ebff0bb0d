"""What every benchmark shares: its log line, a worker's peak memory, and the stack it measures (fake GCS, a space)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from localspace.processes import free_port, gcs_requests, start_fake_gcs, start_function, start_space, stop
from localspace.signing import sign_form

KEY = "PSK_bench_signing_key"
TOKEN = "PT_bench_token"
MB = 1_000_000
MiB = 1024 * 1024


def logger(name: str) -> Callable[[str], None]:
    """A benchmark's progress line on stderr, so what it prints on stdout stays its table."""

    def log(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    return log


def worker_pid(master: int) -> int:
    """gunicorn forks one worker under the functions-framework master."""
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("no gunicorn worker found")


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size; VmHWM, not ru_maxrss, which counts a forked parent's memory too."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM missing")


def reset_peak(pid: int) -> None:
    # Writing 5 to clear_refs resets the peak resident set size to the current one (Linux ≥ 4.0).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Stack:
    """fake-gcs-server with a fresh bucket, a SignalWire stand-in, and the function's environment for both.

    Every process it starts is stopped by `stop()`, newest first.
    """

    def __init__(self, work: Path, bucket_prefix: str, project: str | None = None) -> None:
        self.work = work
        self.project = project or str(uuid.uuid4())
        self.bucket = f"{bucket_prefix}-{uuid.uuid4().hex[:10]}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.gcs_url = ""
        self.space_url = ""

    def start_gcs(self, log_level: str = "info") -> None:
        """fake-gcs-server (at level info it logs each request, which `gcs_requests` counts) and the bucket."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        gcs, self.gcs_url = start_fake_gcs(self.work, log_level=log_level)
        self.processes.append(gcs)
        os.environ["STORAGE_EMULATOR_HOST"] = self.gcs_url
        storage.Client(project="bench", credentials=AnonymousCredentials()).create_bucket(self.bucket)

    def start_space(self, command: list[str], env: dict[str, str] | None = None) -> None:
        space, self.space_url = start_space(command, env=env)
        self.processes.append(space)

    def env(self, **extra: str) -> dict[str, str]:
        """The function's environment against this stack; `extra` adds or overrides."""
        return {
            "SIGNALWIRE_SPACE_URL": self.space_url,
            "SIGNALWIRE_PROJECT_ID": self.project,
            "SIGNALWIRE_API_TOKEN": TOKEN,
            "SIGNALWIRE_SIGNING_KEY": KEY,
            "ARCHIVE_URI": f"gs://{self.bucket}/bench",
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "GOOGLE_CLOUD_PROJECT": "bench",
            "NO_GCE_CHECK": "True",
            **extra,
        }

    def signed_headers(self, url: str, fields: dict[str, str]) -> dict[str, str]:
        return sign_form(KEY, url, fields).headers

    def callback(self, url: str, sid: str, status: str = "completed") -> tuple[int, float, dict[str, Any]]:
        """A signed cXML callback: (status code, seconds to the answer, the answer's JSON)."""
        fields = {"AccountSid": self.project, "RecordingSid": sid, "RecordingStatus": status}
        headers = self.signed_headers(url, fields)
        started = time.perf_counter()
        response = requests.post(url, data=urlencode(fields), headers=headers, timeout=3600)
        return response.status_code, time.perf_counter() - started, response.json()

    def space_counts(self) -> dict[str, int]:
        """The stand-in's requests so far, by kind (its /__stats)."""
        return dict(requests.get(f"{self.space_url}/__stats", timeout=10).json())

    def gcs_requests(self, objects_only: bool = False) -> int:
        """Requests fake-gcs-server has served: all of them, or only those on this stack's bucket's objects."""
        return len(gcs_requests(self.work, self.bucket if objects_only else None))

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)


class Bench(Stack):
    """A stack whose stand-in serves recordings registered before it starts (`python -m localspace`)."""

    def __init__(self, plan: dict[str, Any], work: Path, chunk_mib: int) -> None:
        super().__init__(work, "bench")
        self.plan = plan
        self.chunk_mib = chunk_mib
        self.recordings: dict[str, int] = {}
        self.created: dict[str, datetime] = {}

    def recording(self, size: int, created: datetime | None = None) -> str:
        sid = str(uuid.uuid4())
        self.recordings[sid] = size
        if created:
            self.created[sid] = created
        return sid

    def start(self) -> None:
        self.start_gcs()
        args = [sys.executable, "-m", "localspace", "--port", str(free_port()), "--project", self.project]
        args += ["--token", TOKEN]
        for sid, size in self.recordings.items():
            args += ["--recording", f"{sid}={size}"]
        for sid, created in self.created.items():
            args += ["--created", f"{sid}={created.isoformat()}"]
        self.start_space(args)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(UPLOAD_CHUNK_MIB=str(self.chunk_mib), RETRY_BUDGET_SECONDS="600", **extra)

    def start_function(self) -> tuple[subprocess.Popen[bytes], str]:
        process, url = start_function(self.env(), log_path=self.work / "function.log")
        self.processes.append(process)
        return process, url
