"""Drive `main.archive_recording` through a real functions-framework server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from google.cloud import storage

from archiver import signature
from tests.conftest import SIGNING_KEY, TOKEN, env_for
from tests.servers import ROOT, start_function, stop
from tests.standin import Space


@pytest.fixture
def function(
    space: Space, gcs_url: str, gcs_client: storage.Client, tmp_path: Path
) -> Iterator[tuple[str, storage.Bucket, Path]]:
    bucket = gcs_client.create_bucket(f"fn-{uuid.uuid4().hex[:12]}")
    env = env_for(space, ARCHIVE_URI=f"gs://{bucket.name}/rec", PUBLIC_URL="", STORAGE_EMULATOR_HOST=gcs_url)
    env["GOOGLE_CLOUD_PROJECT"] = "test"
    log = tmp_path / "function.log"
    process, url = start_function(env, log_path=log)
    yield url, bucket, log
    stop(process)


def signed_post(url: str, fields: dict[str, str], key: str = SIGNING_KEY) -> requests.Response:
    sig = signature.compute(key, url, fields.items())
    return requests.post(
        url,
        data=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-SignalWire-Signature": sig},
        timeout=30,
    )


def callback(space: Space, sid: str, status: str = "completed") -> dict[str, str]:
    return {
        "AccountSid": space.project_id,
        "CallSid": str(uuid.uuid4()),
        "RecordingSid": sid,
        "RecordingStatus": status,
        "RecordingUrl": f"{space.url}/x",
    }


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

    lines = [json.loads(line) for line in log.read_text().splitlines()[probes:] if line.startswith("{")]
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
    body = json.dumps(space.event(swml)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-SignalWire-Signature": signature.compute_hex(SIGNING_KEY, url, body),
    }
    response = requests.post(url, data=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
    base = f"rec/{space.project_id}/{swml.created:%Y/%m/%d}/{swml.sid}"
    blobs = {b.name: b for b in bucket.list_blobs()}
    assert blobs[f"{base}.wav"].download_as_bytes() == swml.audio()
    assert json.loads(blobs[f"{base}.json"].download_as_bytes())["id"] == swml.sid

    # The GET's fields arrive in the query string; the raw query must reach the signature check intact.
    laml = space.add(size=40_000)
    fields = callback(space, laml.sid) | {"RecordingSource": "StartCallRecordingApi", "Note": "a b+c&d/é"}
    get_url = f"{url}?{urlencode(fields)}"
    signed = {"X-SignalWire-Signature": signature.compute(SIGNING_KEY, get_url, ())}
    response = requests.get(get_url, headers=signed, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "archived"
    unsigned = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert unsigned.status_code == 403

    lines = [json.loads(line) for line in log.read_text().splitlines()[probes:] if line.startswith("{")]
    shapes = [(line["outcome"], line.get("callback_shape"), line.get("api")) for line in lines if "outcome" in line]
    assert shapes == [("archived", "event", "relay"), ("archived", "query", "laml"), ("rejected", None, None)]


def test_bad_configuration_fails_at_startup_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALWIRE_", "ARCHIVE_URI"))}
    env["SIGNALWIRE_SPACE_URL"] = "https://example.signalwire.com"
    result = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "configuration error: SIGNALWIRE_PROJECT_ID is not set (see the Configuration table in README.md)"
    )


def test_sweep_through_the_real_server(space: Space, gcs_url: str, gcs_client: storage.Client, tmp_path: Path) -> None:
    bucket = gcs_client.create_bucket(f"sweep-{uuid.uuid4().hex[:12]}")
    env = env_for(space, ARCHIVE_URI=f"gs://{bucket.name}", STORAGE_EMULATOR_HOST=gcs_url) | {
        "GOOGLE_CLOUD_PROJECT": "test"
    }
    process, url = start_function(env, target="reconcile_recordings", log_path=tmp_path / "sweep.log")
    try:
        recs = [space.add(size=25_000) for _ in range(3)]
        window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}
        response = requests.post(url, json=window, timeout=60)
        assert response.status_code == 200, response.text
        assert sorted(response.json()["archived_sids"]) == sorted(r.sid for r in recs)
        assert len(list(bucket.list_blobs())) == 6
        assert requests.post(url, json=window, timeout=60).json()["already_archived"] == 3
    finally:
        stop(process)
