"""Drive `main.archive_recording` through a real functions-framework server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from google.cloud import storage

from localspace.__main__ import DEMO_SID
from localspace.processes import ROOT, free_port, start_serve, stop, wait_for
from localspace.space import Fault, Space
from tests.helpers import (
    SIGNING_KEY,
    TOKEN,
    StartFunction,
    callback,
    env_for,
    import_main,
    log_lines,
    signed_event,
    signed_get,
    signed_post,
)


@pytest.fixture
def function(
    space: Space, gcs_url: str, gcs_client: storage.Client, function_process: StartFunction
) -> tuple[str, storage.Bucket, Path]:
    bucket = gcs_client.create_bucket(f"fn-{uuid.uuid4().hex[:12]}")
    env = env_for(space, ARCHIVE_URI=f"gs://{bucket.name}/rec", PUBLIC_URL="", STORAGE_EMULATOR_HOST=gcs_url)
    started = function_process(**env, GOOGLE_CLOUD_PROJECT="test")
    return started.url, bucket, started.log


def test_signed_callback_archives_through_the_real_server(
    space: Space, function: tuple[str, storage.Bucket, Path]
) -> None:
    url, bucket, log = function
    probes = len(log.read_text().splitlines())  # the readiness probe's unsigned GET was answered 403 already
    rec = space.add(size=1_800_000)
    response = signed_post(url, callback(space, rec.sid))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
    blobs = {b.name: b for b in bucket.list_blobs()}
    base = f"rec/{space.project_id}/{rec.created:%Y/%m/%d}/{rec.sid}"
    assert set(blobs) == {f"{base}.mp3", f"{base}.json"}
    assert blobs[f"{base}.mp3"].download_as_bytes() == rec.audio()
    assert signed_post(url, callback(space, rec.sid)).json()["outcome"] == "already_archived"

    assert requests.get(url, timeout=10).status_code == 403  # an unsigned GET
    assert signed_post(url, callback(space, rec.sid), key="PSK_wrong").status_code == 403
    big = callback(space, rec.sid) | {"Pad": "x" * 70_000}
    assert signed_post(url, big).status_code == 413

    lines = log_lines(log, probes)
    outcomes = [line["outcome"] for line in lines if "outcome" in line]
    assert outcomes == ["archived", "already_archived", "rejected", "rejected", "rejected"]
    assert all(line["severity"] in {"INFO", "WARNING"} for line in lines if "outcome" in line)
    assert TOKEN not in log.read_text()
    assert SIGNING_KEY not in log.read_text()


def test_swml_event_and_get_callback_through_the_real_server(
    space: Space, function: tuple[str, storage.Bucket, Path]
) -> None:
    url, bucket, log = function
    probes = len(log.read_text().splitlines())
    swml = space.add(size=600_000, api="relay", fmt="wav")
    response = signed_event(url, space.event(swml))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
    base = f"rec/{space.project_id}/{swml.created:%Y/%m/%d}/{swml.sid}"
    blobs = {b.name: b for b in bucket.list_blobs()}
    assert blobs[f"{base}.wav"].download_as_bytes() == swml.audio()
    assert json.loads(blobs[f"{base}.json"].download_as_bytes())["id"] == swml.sid

    # The GET's fields arrive in the query string; the raw query must reach the signature check intact.
    laml = space.add(size=40_000)
    fields = callback(space, laml.sid) | {"RecordingSource": "StartCallRecordingApi", "Note": "a b+c&d/é"}
    response = signed_get(url, fields)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
    unsigned = requests.post(url, json=space.event(swml), headers={"Content-Type": "application/json"}, timeout=30)
    assert unsigned.status_code == 403

    lines = log_lines(log, probes)
    shapes = [(line["outcome"], line.get("callback_shape"), line.get("api")) for line in lines if "outcome" in line]
    assert shapes == [("archived", "event", "relay"), ("archived", "query", "laml"), ("rejected", None, None)]


def test_bad_configuration_fails_at_startup_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALWIRE_", "ARCHIVE_URI"))}
    env["SIGNALWIRE_SPACE_URL"] = "https://example.signalwire.com"
    result = import_main(env)
    assert result.returncode == 1
    assert result.stderr.strip() == "configuration error: SIGNALWIRE_PROJECT_ID is not set (see docs/configuration.md)"


def test_bucket_without_credentials_fails_at_startup_with_one_line(space: Space, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION"))}
    env |= env_for(space, ARCHIVE_URI="gs://some-bucket") | {"CLOUDSDK_CONFIG": str(tmp_path), "HOME": str(tmp_path)}
    result = import_main(env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("configuration error: ARCHIVE_URI=gs://some-bucket needs Google credentials")
    assert "gcloud auth application-default login" in line


def test_missing_signing_key_warns_at_startup(space: Space, tmp_path: Path) -> None:
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"), SIGNALWIRE_SIGNING_KEY="")
    result = import_main(env)
    assert result.returncode == 0
    assert result.stderr.strip().splitlines() == [
        "WARNING: SIGNALWIRE_SIGNING_KEY is not set: every callback will be refused with 403"
    ]


def test_sweep_through_the_real_server(
    space: Space, gcs_url: str, gcs_client: storage.Client, function_process: StartFunction
) -> None:
    bucket = gcs_client.create_bucket(f"sweep-{uuid.uuid4().hex[:12]}")
    env = env_for(space, ARCHIVE_URI=f"gs://{bucket.name}", STORAGE_EMULATOR_HOST=gcs_url)
    url = function_process("reconcile_recordings", **env, GOOGLE_CLOUD_PROJECT="test").url
    recs = [space.add(size=25_000) for _ in range(3)]
    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}
    response = requests.post(url, json=window, timeout=60)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["archived_sids"]) == sorted(r.sid for r in recs)
    assert len(list(bucket.list_blobs())) == 6
    assert requests.post(url, json=window, timeout=60).json()["already_archived"] == 3


def test_serve_says_where_it_listens_and_refuses_a_taken_port(space: Space, tmp_path: Path) -> None:
    """`make run` is `python -m archiver serve`: one line to say where, one line to say why not."""
    env = os.environ | env_for(space, ARCHIVE_URI=str(tmp_path / "archive"), PUBLIC_URL="")
    process, url = start_serve(env, stdout=subprocess.PIPE)
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    command = [sys.executable, "-m", "archiver", "serve", "--port", str(port)]
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        assert first.startswith(f"listening on http://127.0.0.1:{port}/ — callbacks must be signed for")
        wait_for(f"http://127.0.0.1:{port}/", process)  # a GET is answered 405: the function is up
        taken = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert taken.returncode == 2
        assert taken.stderr.splitlines() == [f"error: port {port} is taken by another server: make run PORT={port + 1}"]
    finally:
        stop(process)


def test_local_loop_space_run_callback_without_an_account(
    space_process: list[str], function_process: StartFunction, tmp_path: Path
) -> None:
    """`make space`, `make run` and `make callback` as the README's local loop runs them, as real processes."""
    printed = [line.strip() for line in space_process if line.startswith(("SIGNALWIRE_", "PUBLIC_URL"))]
    dotenv = dict(line.split("=", 1) for line in printed)
    assert dotenv["SIGNALWIRE_SPACE_URL"].startswith("http://127.0.0.1:")
    function_port = free_port()
    env = dotenv | {"PUBLIC_URL": f"http://127.0.0.1:{function_port}/", "ARCHIVE_URI": str(tmp_path / "archive")}
    url = function_process(**env, PORT=str(function_port)).url
    env = os.environ | env
    send = [sys.executable, "-m", "archiver", "send-callback", DEMO_SID, "--to", url]
    result = subprocess.run(send, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"outcome":"archived"' in result.stdout.replace(" ", "")
    (archived,) = (tmp_path / "archive").rglob(f"{DEMO_SID}.mp3")
    assert archived.read_bytes() == (ROOT / "demo" / "hello.mp3").read_bytes()
    again = subprocess.run(send, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert '"outcome":"already_archived"' in again.stdout.replace(" ", "")


def test_the_stand_ins_switches_against_the_real_server(
    space: Space, function: tuple[str, storage.Bucket, Path]
) -> None:
    """Each localspace switch of issue 18, played against a functions-framework process and fake-gcs-server: RELAY
    MP3 audio on a presigned host that refuses credentials, under a neutral Content-Type, announced by the `record`
    event shape; LaML audio redirected to that host; and a callback with a status word no documentation lists."""
    url, bucket, log = function
    probes = len(log.read_text().splitlines())
    relay = space.add(size=50_000, api="relay", fmt="mp3", media_place="presigned", content_type="binary/octet-stream")
    assert signed_event(url, space.event(relay, shape="record", format="wav")).json()["outcome"] == "archived"
    laml = space.add(size=40_000)
    space.fault(laml.sid, "media", Fault(redirect=True))
    assert signed_post(url, callback(space, laml.sid, "transcribed")).json()["outcome"] == "archived"

    blobs = {b.name: b for b in bucket.list_blobs()}
    for rec in (relay, laml):
        audio = blobs[f"rec/{space.project_id}/{rec.created:%Y/%m/%d}/{rec.sid}.mp3"]
        assert (audio.download_as_bytes(), audio.content_type) == (rec.audio(), "audio/mpeg")
    other = int(space.other_host_url.rsplit(":", 1)[1])
    assert [seen.has_auth_header for seen in space.requests if seen.port == other] == [False, False]
    lines = log_lines(log, probes)
    assert [line["status_word"] for line in lines if line["severity"] == "WARNING"] == ["transcribed"]
    relay_line = next(line for line in lines if line.get("api") == "relay")
    assert relay_line["format_hints_disagree"] == ["event=wav"]
    assert relay_line["media_host"] == space.other_host_url.removeprefix("http://")
