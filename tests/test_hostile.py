"""The adversarial review's attacks, replayed: a space that lies, trickles or floods, and hostile clients.

Each test plays the misbehaving party (the stand-in space, or a client) against real processes:
fake-gcs-server, the stand-in's HTTP server, and for the time and header attacks a real
functions-framework process.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from google.cloud import storage

from archiver import cli
from archiver.storage import LocalStore
from archiver.sweep import sweep
from archiver.verify import verify
from archiver.webhook import handle_callback, handle_sweep
from localspace.signing import HEADER, sign_form
from localspace.space import Fault, Space
from tests.helpers import (
    CALLBACK_URL,
    SIGNING_KEY,
    WINDOW,
    Harness,
    StartFunction,
    audit_lines,
    blobs,
    bucket_of,
    cli_env,
    env_for,
    import_main,
    signed_post,
)

MANY = 1000


# --- 1. a delete rests on a size SignalWire announced ---------------------------------------------


def test_cut_body_without_length_is_kept_unverified_and_never_deleted(
    deleting: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """3,000 bytes of a longer recording, no Content-Length, then the connection closes; HEAD says nothing."""
    space = deleting.space
    rec = space.add(size=50_000, created=datetime(2026, 11, 20, tzinfo=UTC))
    space.fault(rec.sid, "media", *[Fault(no_length=True, truncate_at=3_000)] * MANY)
    space.fault(rec.sid, "head", *[Fault(no_length=True)] * MANY)

    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 200
    assert reply.body["outcome"] == "archived"
    assert reply.body["deleted"] is False
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["size_verified"] is False
    assert line["delete_skipped"] == "SignalWire announced no size for the audio"
    manifest = next(blob for name, blob in blobs(deleting).items() if name.endswith(".json"))
    assert manifest.metadata["audio-size-verified"] == "false"

    report = sweep(deleting.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.already_archived == 1 and report.deleted == 0
    cli_env(monkeypatch, deleting)
    assert cli.main(["backfill", "--since", "2026-11-01", "--until", "2026-11-30", "--no-progress"]) == 0
    assert space.count("delete") == 0
    assert rec.sid in space.recordings
    (row,) = verify(deleting.archiver, *WINDOW)
    assert row["result"] == "unverified_size"
    assert row["size_verified"] is False


def test_cut_body_is_caught_when_a_head_announces_the_size(deleting: Harness) -> None:
    rec = deleting.space.add(size=50_000)
    deleting.space.fault(rec.sid, "media", *[Fault(no_length=True, truncate_at=3_000)] * MANY)
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "signalwire_unavailable"
    assert blobs(deleting) == {}
    assert deleting.space.count("delete") == 0


def test_whole_body_without_length_is_verified_by_head_and_then_deleted(
    deleting: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = deleting.space.add(size=50_000)
    deleting.space.fault(rec.sid, "media", Fault(no_length=True))
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.body["deleted"] is True
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["size_verified"] is True
    assert line["evidence"]["announced_bytes"] == rec.size == line["evidence"]["audio_bytes"]
    assert deleting.space.count("head") == 1


def test_size_announced_later_that_disagrees_makes_the_archive_corrupt(deleting: Harness) -> None:
    """Archived without a length, then the sweep's HEAD says the recording is longer: loud, not deleted."""
    rec = deleting.space.add(size=50_000, created=datetime(2026, 11, 20, tzinfo=UTC))
    deleting.space.fault(rec.sid, "media", Fault(no_length=True, truncate_at=3_000))
    deleting.space.fault(rec.sid, "head", Fault(no_length=True))
    assert deleting.archiver.archive(rec.sid, delete=False).outcome == "archived"
    report = sweep(deleting.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert [row["sid"] for row in report.corrupt] == [rec.sid]
    assert "SignalWire announces 50000" in report.corrupt[0]["error"]
    assert deleting.space.count("delete") == 0


# --- 2. bounded in time, memory and disk ---------------------------------------------------------


def test_oversized_metadata_is_refused_and_nothing_is_stored(harness: Harness) -> None:
    rec = harness.space.add()
    harness.space.fault(rec.sid, "json", Fault(json_bytes=3 * 1024 * 1024))
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "too_large"
    assert harness.space.count("json") == 1  # not retried: the next answer would be as large
    assert harness.space.count("media") == 0
    assert blobs(harness) == {}


def test_oversized_list_page_fails_the_sweep(harness: Harness) -> None:
    harness.space.add(created=datetime(2026, 11, 20, tzinfo=UTC))
    harness.space.fault("*", "list", Fault(json_bytes=17 * 1024 * 1024))
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.listed == 0
    assert "16777216-byte limit" in report.failed[0]["error"]
    assert blobs(harness) == {}


@pytest.mark.parametrize("local", [False, True])
def test_endless_stream_is_cut_at_max_recording_mb(
    make_harness: Callable[..., Harness], local: bool, tmp_path: Path
) -> None:
    harness = make_harness(local=local, MAX_RECORDING_MB="2")
    rec = harness.space.add(size=100_000)
    harness.space.fault(rec.sid, "media", *[Fault(endless=True)] * MANY)
    harness.space.fault(rec.sid, "head", *[Fault(no_length=True)] * MANY)  # nothing announces a size
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "too_large"
    assert harness.space.count("media") == 1  # a permanent failure is not retried
    if local:
        assert [p for p in Path(harness.settings.archive_uri).rglob("*") if p.is_file()] == []
    else:
        assert blobs(harness) == {}


def test_announced_size_over_the_limit_is_refused_before_reading(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(MAX_RECORDING_MB="1")
    rec = harness.space.add(size=2 * 1024 * 1024)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "too_large"


# --- 3. credentials never leave the space ----------------------------------------------------------


@pytest.mark.parametrize(
    "next_page",
    [
        "@127.0.0.1:{other}/steal",
        "//127.0.0.1:{other}/api/laml/2010-04-01/Accounts/{project}/Recordings.json?Page=1",
        "http://127.0.0.1:{other}/api/laml/2010-04-01/Accounts/{project}/Recordings.json?Page=1",
        "/api/laml/2010-04-01/Accounts/00000000-0000-0000-0000-000000000000/Recordings.json?Page=1",
        "/api/relay/rest/recordings",
        "/api/laml/2010-04-01/Accounts/{project}/%2e%2e/%2e%2e/Accounts/x/Recordings.json",
        "/api/laml/2010-04-01/Accounts/{project}/..%5c..%5cx",
    ],
)
def test_next_page_uri_off_the_space_is_refused_unsent(harness: Harness, next_page: str) -> None:
    space = harness.space
    for day in (2, 3):
        space.add(size=10_000, created=datetime(2026, 11, day, tzinfo=UTC))
    other = int(space.other_host_url.rsplit(":", 1)[1])
    space.fault("*", "list", Fault(next_page=next_page.format(other=other, project=space.project_id)))
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, page_size=1)
    assert "leaves the project's API" in report.failed[0]["error"]
    assert [seen for seen in space.requests if seen.port == other] == []
    assert space.count("list") == 1
    assert report.listed == 1  # what the first page listed is still archived
    assert len(report.archived) == 1


def test_delete_is_never_redirected(deleting: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = deleting.space.add(size=20_000)
    deleting.space.fault(rec.sid, "delete", Fault(redirect=True))
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 200
    assert reply.body["deleted"] is False
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["delete_status"] == 302
    other = int(deleting.space.other_host_url.rsplit(":", 1)[1])
    assert [seen for seen in deleting.space.requests if seen.port == other] == []
    assert rec.sid in deleting.space.recordings


# --- 4. corruption is loud ---------------------------------------------------------------------------


def test_duplicate_callback_finds_corruption_and_says_so(deleting: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = deleting.space.add(size=40_000)
    assert deleting.archiver.archive(rec.sid, delete=False).outcome == "archived"
    name = next(name for name in blobs(deleting) if name.endswith(".mp3"))
    blob = bucket_of(deleting).get_blob(name)
    assert blob is not None
    replacement = bucket_of(deleting).blob(name)
    replacement.metadata = blob.metadata  # the sha256 marker survives: only the bytes changed
    replacement.upload_from_string(b"\1" * 40_000, content_type="audio/mpeg")
    capsys.readouterr()
    media_before = deleting.space.count("media")
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 503
    assert reply.body["outcome"] == "corrupt"
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["severity"] == "ERROR"
    assert line["message"] == "archived recording disagrees with its manifest"
    assert deleting.space.count("delete") == 0
    assert deleting.space.count("media") == media_before


def test_repair_under_retention_says_it_cannot(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An immutable file stands for a retention policy: the filesystem refuses the delete, even to root."""
    harness = make_harness(local=True)
    held, free = (harness.space.add(size=30_000, created=datetime(2026, 11, d, tzinfo=UTC)) for d in (2, 3))
    for rec in (held, free):
        assert harness.archiver.archive(rec.sid).outcome == "archived"
    root = Path(harness.settings.archive_uri)
    paths = {rec.sid: next(root.rglob(f"{rec.sid}.mp3")) for rec in (held, free)}
    for path in paths.values():
        path.write_bytes(b"\0" * 30_000)  # damaged in place: the size holds, the CRC32C does not
    subprocess.run(["chattr", "+i", str(paths[held.sid])], check=True)
    try:
        cli_env(monkeypatch, harness)
        args = ["backfill", "--since", "2026-11-01", "--until", "2026-11-30", "--no-progress"]
        assert cli.main(args) == 1
        out = capsys.readouterr().out
        assert f"CORRUPT {held.sid}" in out and f"CORRUPT {free.sid}" in out
        assert "--repair" in out
        assert cli.main([*args, "--repair"]) == 1
        out = capsys.readouterr().out
        assert f"REPAIRED {free.sid}" in out
        assert f"CORRUPT {held.sid}" in out and "cannot repair" in out
        assert paths[free.sid].read_bytes() == free.audio()
        assert cli.main(args) == 1  # the held one stays reported until its retention ends
    finally:
        subprocess.run(["chattr", "-i", str(paths[held.sid])], check=True)


# --- 5. odd input never becomes a 500 or a wasted minute ---------------------------------------------


def test_bad_listed_rows_fail_alone(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    space = harness.space
    good = space.add(size=10_000, created=datetime(2026, 11, 2, tzinfo=UTC))
    space.add(size=10_000, sid="../../../../etc/passwd", created=datetime(2026, 11, 3, tzinfo=UTC))
    space.add(size=10_000, created=datetime(2026, 11, 4, tzinfo=UTC), listed_date="Tue, 25 Sep 99999 23:00:00 +0000")
    space.add(size=10_000, created=datetime(2026, 11, 5, tzinfo=UTC), listed_date="Tue, 25 Sep 2018 23:00:00 +9999")
    report = sweep(harness.archiver, *WINDOW, concurrency=2, deadline_s=60)
    assert report.archived == [good.sid]
    assert len(report.failed) == 3
    rows = list(verify(harness.archiver, *WINDOW))
    assert sorted(row["result"] for row in rows) == ["failed", "failed", "failed", "ok"]
    cli_env(monkeypatch, harness)
    assert cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30"]) == 1


def test_local_store_refuses_keys_that_leave_the_archive(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "archive"), 1024)
    for key in ("../outside.json", "a/../../b", "/etc/passwd", "a//b", "a\\..\\b"):
        with pytest.raises(ValueError, match="not an archive key"):
            store.stat(key)


def test_local_archive_is_private(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True)
    rec = harness.space.add(size=10_000)
    assert harness.post(harness.form(rec.sid)).status == 200
    root = Path(harness.settings.archive_uri)
    modes = {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}
    assert modes
    for name, mode in modes.items():
        expected = 0o750 if (root / name).is_dir() else 0o640
        assert mode == expected, f"{name}: {oct(mode)}"


def test_too_many_fields_says_so(harness: Harness) -> None:
    rec = harness.space.add()
    fields = harness.form(rec.sid) | {f"X{i}": "1" for i in range(300)}
    reply = harness.post(fields)
    assert reply.status == 400
    assert reply.body["reason"] == "more than 256 form fields"


def test_sweep_window_is_capped(harness: Harness) -> None:
    body = json.dumps({"since": "2026-01-01", "until": "2026-11-01"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(body))
    assert reply.status == 400
    assert "RECONCILE_MAX_WINDOW_DAYS" in reply.body["reason"]
    assert harness.space.count() == 0


def test_odd_headers_never_break_a_request(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(PUBLIC_URL="")
    rec = harness.space.add()
    fields = harness.form(rec.sid, "in-progress")
    body = urlencode(fields).encode()
    for host in ("a:b", "[::1", "h:99999", "x/y", ""):
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-Host": host,
            HEADER: sign_form(SIGNING_KEY, f"https://{host}/", fields).signature,
            "X-Cloud-Trace-Context": "a" * 32 + "/" + "9" * 5000 + ";o=1",
        }
        reply = handle_callback(harness.service, "POST", "http://127.0.0.1:8080/", headers, io.BytesIO(body))
        assert reply.status == 403, host


# --- against a real functions-framework process ------------------------------------------------------


@pytest.fixture
def run_function(
    space: Space, gcs_url: str, gcs_client: storage.Client, function_process: StartFunction
) -> Callable[..., tuple[str, storage.Bucket]]:
    def start(**overrides: str) -> tuple[str, storage.Bucket]:
        bucket = gcs_client.create_bucket(f"hostile-{uuid.uuid4().hex[:12]}")
        env = env_for(space, ARCHIVE_URI=f"gs://{bucket.name}", STORAGE_EMULATOR_HOST=gcs_url, **overrides)
        return function_process(**env).url, bucket

    return start


def form(space: Space, sid: str) -> dict[str, str]:
    return {"AccountSid": space.project_id, "RecordingSid": sid, "RecordingStatus": "completed"}


@pytest.mark.parametrize("kind", ["json", "media"])
def test_trickling_space_cannot_hold_a_callback(
    space: Space, run_function: Callable[..., tuple[str, storage.Bucket]], kind: str
) -> None:
    budget = 2.0
    url, bucket = run_function(RETRY_BUDGET_SECONDS=str(budget))
    rec = space.add(size=200_000)
    space.fault(rec.sid, kind, *[Fault(trickle_s=1.0)] * MANY)
    started = time.monotonic()
    response = signed_post(url, form(space, rec.sid), signed_for=CALLBACK_URL, timeout=120)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"] == "signalwire_unavailable"
    # The budget, plus the few seconds any single request is allowed, plus the watchdog's tick.
    assert elapsed < budget + 6, elapsed
    assert list(bucket.list_blobs()) == []


def test_a_fast_start_cannot_buy_a_long_stall(
    space: Space, run_function: Callable[..., tuple[str, storage.Bucket]]
) -> None:
    """20 MB at full speed earn 80 s at 256 KiB/s; the rate over the last window still has to hold."""
    budget = 2.0
    url, bucket = run_function(RETRY_BUDGET_SECONDS=str(budget))
    rec = space.add(size=40_000_000)
    space.fault(rec.sid, "media", *[Fault(trickle_s=1.0, trickle_after=20_000_000)] * MANY)
    started = time.monotonic()
    response = signed_post(url, form(space, rec.sid), signed_for=CALLBACK_URL, timeout=120)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    # The allowance (5 s at least), then one rate window of the same length, plus the watchdog's tick.
    assert elapsed < 12, elapsed
    assert list(bucket.list_blobs()) == []


def test_hostile_requests_get_plain_answers_from_the_process(
    space: Space, run_function: Callable[..., tuple[str, storage.Bucket]]
) -> None:
    url, bucket = run_function(PUBLIC_URL="", DELETE_AFTER_ARCHIVE="true")
    rec = space.add(size=30_000, created=datetime.now(UTC) - timedelta(minutes=5))
    space.fault(rec.sid, "media", Fault(no_length=True, truncate_at=3_000))
    space.fault(rec.sid, "head", *[Fault(no_length=True)] * MANY)
    fields = form(space, rec.sid)
    headers = sign_form(SIGNING_KEY, url, fields).headers
    answer = requests.post(url, data=urlencode(fields), headers=headers, timeout=60)
    assert answer.status_code == 200 and answer.json()["deleted"] is False
    assert space.count("delete") == 0
    newline = requests.post(url, data=urlencode(fields | {"RecordingSid": rec.sid + "\n"}), headers=headers, timeout=60)
    assert newline.status_code in (400, 403)
    for host in ("a:b", "[::1", "h:99999"):
        odd = headers | {"X-Forwarded-Host": host, "X-Cloud-Trace-Context": "b" * 32 + "/" + "7" * 4400}
        assert requests.post(url, data=urlencode(fields), headers=odd, timeout=60).status_code == 403
    many = urlencode(fields | {f"F{i}": "x" for i in range(300)})
    refused = requests.post(url, data=many, headers=headers, timeout=60)
    assert refused.status_code == 400 and "256" in refused.json()["reason"]
    assert len(list(bucket.list_blobs())) == 2


def test_deployed_webhook_without_public_url_refuses_to_start(space: Space) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALWIRE_", "ARCHIVE_URI", "PUBLIC_URL"))}
    env |= env_for(space, PUBLIC_URL="", ARCHIVE_URI="gs://some-bucket") | {
        "K_SERVICE": "archive-recording",
        "FUNCTION_TARGET": "archive_recording",
    }
    result = import_main(env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "configuration error: PUBLIC_URL must be set when deployed: the exact callback URL configured at SignalWire"
    ]


# --- an independent review's attacks, replayed ---------------------------------------------------------


def test_an_empty_body_is_never_an_archive_or_a_reason_to_delete(deleting: Harness) -> None:
    rec = deleting.space.add(content=b"")  # 'completed', Content-Length: 0
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "not_audio"
    assert blobs(deleting) == {}
    assert deleting.space.count("delete") == 0


def test_compressed_media_is_refused_not_archived(deleting: Harness) -> None:
    rec = deleting.space.add(size=40_000)
    deleting.space.fault(rec.sid, "media", *[Fault(headers={"Content-Encoding": "gzip"})] * MANY)
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "signalwire_refused"
    assert blobs(deleting) == {}
    assert deleting.space.count("delete") == 0


def test_a_redirect_body_is_never_read(harness: Harness) -> None:
    """A 302 whose body never ends: reading it would hold the callback until its deadline."""
    rec = harness.space.add(size=20_000)
    harness.space.fault(rec.sid, "json", Fault(redirect=True))
    started = time.monotonic()
    reply = harness.post(harness.form(rec.sid))
    assert reply.body["outcome"] == "archived"
    assert time.monotonic() - started < 3
    assert harness.space.count("json") == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(body=b"[" * 100_000), "unreadable JSON"),
        (Fault(body=b'{"recordings": [' + b"{}," * 30_000 + b"{}]}"), "more than 20000 JSON objects"),
    ],
)
def test_odd_list_pages_fail_the_sweep_cleanly(harness: Harness, fault: Fault, error: str) -> None:
    harness.space.fault("*", "list", *[fault] * MANY)
    body = json.dumps({"since": "2026-11-01", "until": "2026-11-30"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(body))
    assert reply.status == 500
    assert error in reply.body["failed"][0]["error"]


def test_a_content_length_of_other_digits_is_no_length(harness: Harness) -> None:
    """'³' passes str.isdigit() but not int(): it must read as no announced length, not crash the sweep."""
    harness.space.fault("*", "list", Fault(body=b'{"recordings": []}', headers={"Content-Length": "\u00b3"}))
    body = json.dumps({"since": "2026-11-01", "until": "2026-11-30"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(body))
    assert (reply.status, reply.body["outcome"]) == (200, "sweep_ok")


def test_a_redirect_off_http_is_refused(harness: Harness) -> None:
    rec = harness.space.add(size=10_000)
    harness.space.fault(rec.sid, "media", *[Fault(status=302, headers={"Location": "ftp://127.0.0.1/x"})] * MANY)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "signalwire_refused"


def test_a_huge_call_sid_stays_out_of_the_audit_line(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add(size=10_000, call_sid="c" * 600_000)
    reply = harness.post(harness.form(rec.sid, CallSid=""))
    assert reply.body["outcome"] == "archived"
    (line,) = capsys.readouterr().out.splitlines()
    assert len(line) < 4_000
    audio = next(blob for name, blob in blobs(harness).items() if name.endswith(".mp3"))
    assert len(audio.metadata["call-sid"]) <= 512


def test_a_touched_file_is_not_corrupt(make_harness: Callable[..., Harness]) -> None:
    """A new generation with the same bytes (a metadata patch, a touch) is evidence, not corruption."""
    harness = make_harness(local=True)
    rec = harness.space.add(size=10_000)
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "archived"
    (path,) = Path(harness.settings.archive_uri).rglob(f"{rec.sid}.mp3")
    os.utime(path, ns=(1, 1))
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "already_archived"


def test_unverified_size_is_never_retained_and_repair_settles_it(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True, OBJECT_RETENTION_DAYS="30")
    cut, whole = (harness.space.add(size=50_000, created=datetime(2026, 11, d, tzinfo=UTC)) for d in (2, 3))
    harness.space.fault(cut.sid, "media", Fault(no_length=True, truncate_at=3_000))
    harness.space.fault(whole.sid, "media", Fault(no_length=True))
    for rec in (cut, whole):
        harness.space.fault(rec.sid, "head", Fault(no_length=True))
        outcome = harness.archiver.archive(rec.sid)
        assert (outcome.outcome, outcome.size_verified, outcome.retained_until) == ("archived", False, None)
    # Later SignalWire announces the sizes: the whole one is now proven, the cut one is rewritten.
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert report.repaired == [cut.sid]
    assert {row["recording_sid"]: row["result"] for row in verify(harness.archiver, *WINDOW)} == {
        cut.sid: "ok",
        whole.sid: "ok",
    }
    for rec in (cut, whole):
        (path,) = Path(harness.settings.archive_uri).rglob(f"{rec.sid}.mp3")
        assert path.read_bytes() == rec.audio()


def test_a_list_that_loops_back_ends(harness: Harness) -> None:
    """A next page that was read already: refused at once, not followed until a deadline or forever."""
    space = harness.space
    for day in (2, 3):
        space.add(size=10_000, created=datetime(2026, 11, day, tzinfo=UTC))
    first = f"/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings.json"
    space.fault("*", "list", *[Fault(next_page=f"{first}?Page=0")] * MANY)
    started = time.monotonic()
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=float("inf"), page_size=1)
    assert time.monotonic() - started < 10
    assert "was listed already" in report.failed[0]["error"]
    assert space.count("list") == 2  # page 0, then the page it pointed to, which points back


def test_many_statuses_keep_the_report_small(harness: Harness) -> None:
    for n in range(50):
        harness.space.add(size=0, status=f"{n:03d}" + "s" * 10_000, created=datetime(2026, 11, 2, tzinfo=UTC))
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.listed == 50
    assert len(json.dumps(report.summary())) < 10_000


def test_a_callback_with_other_digits_as_its_length_is_read_normally(harness: Harness) -> None:
    """'³' passes str.isdigit(); int() refuses it: it must read as no length, never as a 500."""
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid), headers={"Content-Length": "\u00b3"})
    assert reply.status == 200 and reply.body["outcome"] == "archived"
