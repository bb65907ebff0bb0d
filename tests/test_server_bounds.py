"""The functions-framework process as reached over the network: who gets in, and how much of a request it reads.

Every test runs the real server (`functions_framework --target …`, or `python -m archiver serve`) and
speaks HTTP to it over a socket.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from archiver import server
from localspace.processes import ROOT, free_port, start_serve, stop, wait_for
from localspace.space import Fault, Space
from tests.helpers import StartFunction, callback, env_for, import_main, log_lines, signed_get, signed_post

INVOKER = {
    "INVOKER_AUDIENCE": "https://worker.example.com/archive_task",
    "INVOKER_SERVICE_ACCOUNT": "tasks-invoker@test-project.iam.gserviceaccount.com",
}
# Over any legitimate request line (a GET callback's query is under 2 KiB), far under the review's 50 MB.
HUGE = 4 * 1024 * 1024


def raw_request(url: str, request_line_bytes: int) -> bytes:
    """Send a GET whose request line is `request_line_bytes` long, in a thread (the server may stop reading
    and answer mid-way), and return whatever the server answered before closing."""
    host, port = url.split("//")[1].strip("/").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    query = b"a=" + b"x" * request_line_bytes

    def send() -> None:
        # The server may answer and close without reading the rest: the point.
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /?" + query + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
        sender.join(timeout=60)
    return answer


@pytest.fixture(params=["archive_recording", "archive_task", "reconcile_recordings"])
def entry_point(
    request: pytest.FixtureRequest, space: Space, tmp_path: Path, function_process: StartFunction
) -> tuple[str, Path]:
    started = function_process(request.param, **env_for(space, ARCHIVE_URI=str(tmp_path / "archive"), PUBLIC_URL=""))
    return started.url, started.log


def test_a_multi_megabyte_request_line_is_refused_before_any_work(space: Space, entry_point: tuple[str, Path]) -> None:
    url, log = entry_point
    probes = len(log.read_text().splitlines())
    answer = raw_request(url, HUGE)
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    # Nothing reached the entry point: no log line (every answer it gives logs one), no call to SignalWire.
    assert log_lines(log, probes) == []
    assert space.count() == 0
    # A long but legitimate request line still reaches it (and is answered by the code: a log line).
    assert raw_request(url, server.MAX_REQUEST_LINE - 100).startswith(b"HTTP/1.1 4")
    assert len(log_lines(log, probes)) == 1


@pytest.fixture
def make_run(space: Space, tmp_path: Path) -> Iterator[str]:
    """`python -m archiver serve` (what `make run` runs) on a local archive, up; yields its URL."""
    process, url = start_serve(os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"), PUBLIC_URL=""))
    wait_for(url, process)
    yield url
    stop(process)


def test_make_run_refuses_a_multi_megabyte_request_line(space: Space, make_run: str) -> None:
    assert raw_request(make_run, HUGE).startswith(b"HTTP/1.1 414 ")
    assert space.count() == 0


@pytest.mark.parametrize("target", ["archive_task", "reconcile_recordings"])
def test_configured_invoker_is_enforced_off_cloud_run(
    space: Space, tmp_path: Path, target: str, function_process: StartFunction
) -> None:
    """No K_SERVICE (GKE, a VM, any other runner): INVOKER_* still means a token is required."""
    rec = space.add()
    env = env_for(space, ARCHIVE_URI=str(tmp_path / "archive"), PUBLIC_URL="") | INVOKER
    env.pop("K_SERVICE", None)
    url = function_process(target, **env).url
    body = {"recording_sid": rec.sid, "source": "callback"} if target == "archive_task" else {}
    response = requests.post(url, json=body, timeout=60)
    assert response.status_code == 403, response.text
    assert response.json()["reason"] == "caller not authorized: no bearer token"
    assert space.count() == 0
    assert not (tmp_path / "archive").exists()


def ff_command(target: str, *host: str) -> list[str]:
    return [sys.executable, "-m", "functions_framework", "--target", target, *host, "--port", str(free_port())]


EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (what must be refused)


@pytest.mark.parametrize("target", ["archive_task", "reconcile_recordings"])
@pytest.mark.parametrize("host", [[], ["--host", EVERY_ADDRESS], ["--host=192.0.2.1"]], ids=["default", "any", "lan"])
def test_an_open_private_endpoint_on_the_network_refuses_to_start(
    space: Space, tmp_path: Path, target: str, host: list[str]
) -> None:
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"))
    result = subprocess.run(
        ff_command(target, *host), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"configuration error: {target} would answer anyone reaching ")
    assert "ALLOW_OPEN_PRIVATE_ENDPOINT=true" in line


@pytest.mark.parametrize(
    "extra",
    [{"ALLOW_OPEN_PRIVATE_ENDPOINT": "true"}, INVOKER, {"HOST": "127.0.0.1"}],
    ids=["deliberate", "token", "env"],
)
def test_a_private_endpoint_starts_when_checked_local_or_deliberate(
    space: Space, tmp_path: Path, extra: dict[str, str]
) -> None:
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive")) | extra
    result = import_main(env | {"FUNCTION_TARGET": "archive_task"})
    assert result.returncode == 0, result.stderr


def test_half_an_invoker_is_refused_wherever_it_runs(space: Space, tmp_path: Path) -> None:
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"))
    result = import_main(env | {"INVOKER_AUDIENCE": INVOKER["INVOKER_AUDIENCE"]})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "configuration error: INVOKER_SERVICE_ACCOUNT is not set: "
        "INVOKER_AUDIENCE and INVOKER_SERVICE_ACCOUNT go together"
    )


def test_the_documented_local_sweep_listens_on_loopback_only(space: Space, tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "operations.md").read_text().replace("\n", " ")
    (documented,) = re.findall(
        r"`(\.venv/bin/python -m functions_framework --target\s+reconcile_recordings[^`]*)`", docs
    )
    argv = shlex.split(documented)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"))
    process = subprocess.Popen([sys.executable, *argv[1:]], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = {row.split()[1] for row in listening if row.split()[3] == "0A"}  # state 0A: LISTEN
        assert f"0100007F:{port:04X}" in local  # 127.0.0.1
        assert f"00000000:{port:04X}" not in local  # 0.0.0.0
    finally:
        stop(process)


def open_stalled(url: str, first_bytes: bytes, count: int) -> list[socket.socket]:
    host, port = url.split("//")[1].strip("/").split(":")
    stalled = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(first_bytes)
        stalled.append(sock)
    return stalled


def cut_within(stalled: list[socket.socket], seconds: float) -> int:
    """How many of `stalled` the server closed (EOF or reset) within `seconds`."""
    waiting = selectors.DefaultSelector()
    for sock in stalled:
        waiting.register(sock, selectors.EVENT_READ)
    cut = 0
    deadline = time.monotonic() + seconds
    while cut < len(stalled) and (remaining := deadline - time.monotonic()) > 0:
        for key, _ in waiting.select(remaining):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            with contextlib.suppress(ConnectionError):
                ready.recv(1024)  # EOF, or a late answer to a cut request; never a request served
            waiting.unregister(ready)
            ready.close()
            cut += 1
    waiting.close()
    return cut


def test_stalled_connections_are_cut_instead_of_holding_make_run_for_good(space: Space, make_run: str) -> None:
    """Eight one-byte connections, then eight that announce a body and send none: each group is as many
    as `make run`'s threads on this 2-core machine (functions-framework: 4 per core). Before, either
    held every thread indefinitely; now each is cut REQUEST_READ_S after its first byte."""
    url = make_run
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    for first_bytes in (b"P", head):
        stalled = open_stalled(url, first_bytes, 8)
        assert cut_within(stalled, 6 * server.REQUEST_READ_S) == 8
        assert requests.get(url, timeout=60).status_code == 403  # answered: an unsigned GET
    assert space.count() == 0


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_work_longer_than_the_read_deadline_is_never_cut(
    space: Space, tmp_path: Path, method: str, function_process: StartFunction
) -> None:
    """The read deadline ends once the body is in: a recording whose last bytes trickle in for longer
    than REQUEST_READ_S is archived and answered 200."""
    rec = space.add(size=20_000)
    trickled = int(server.REQUEST_READ_S / 0.5) + 6
    space.fault(rec.sid, "media", Fault(trickle_s=0.5, trickle_after=rec.size - trickled))
    env = env_for(space, ARCHIVE_URI=str(tmp_path / "archive"), PUBLIC_URL="", RETRY_BUDGET_SECONDS="120")
    url = function_process(**env).url
    fields = callback(space, rec.sid)
    response = signed_post(url, fields) if method == "POST" else signed_get(url, fields, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
