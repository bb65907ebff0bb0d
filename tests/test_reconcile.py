"""Sweep, backfill, verify and verified delete, against fake-gcs-server and the SignalWire stand-in."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver import cli
from archiver import verify as verify_module
from archiver.outcome import Outcome
from archiver.sweep import sweep
from archiver.verify import verify
from archiver.webhook import handle_sweep
from localspace.processes import free_port
from localspace.space import FakeRecording, Fault
from tests.helpers import WINDOW, Harness, audit_lines, blobs, bucket_of, cli_env, created, tamper


def mixed(harness: Harness) -> dict[str, FakeRecording]:
    """Eight recordings over three pages of three: archived, missing, absent, in progress, broken."""
    space = harness.space
    recs = {
        "archived1": space.add(size=20_000, created=created(2)),
        "archived2": space.add(size=20_000, created=created(3)),
        "missing1": space.add(size=30_000, created=created(4)),
        "missing2": space.add(size=1_500_000, created=created(5)),
        "missing3": space.add(size=30_000, status="stopped", created=created(6)),
        "absent": space.add(size=0, status="absent", created=created(7)),
        "live": space.add(size=0, status="in-progress", created=created(8)),
        "broken": space.add(size=30_000, created=created(9)),
        "outside": space.add(size=10_000, created=datetime(2026, 10, 20, tzinfo=UTC)),
    }
    for name in ("archived1", "archived2"):
        assert harness.post(harness.form(recs[name].sid)).body["outcome"] == "archived"
    space.fault(recs["broken"].sid, "media", *[Fault(500)] * 1000)
    return recs


def test_sweep_over_pages_archives_what_is_missing_and_goes_on_after_a_failure(harness: Harness) -> None:
    recs = mixed(harness)
    media_before = harness.space.count("media")
    seen: list[Outcome] = []
    report = sweep(harness.archiver, *WINDOW, concurrency=2, deadline_s=300, on_outcome=seen.append, page_size=3)
    assert harness.space.count("list") == 3  # followed next_page_uri to the end
    assert report.listed == 8
    assert sorted(report.archived) == sorted(recs[n].sid for n in ("missing1", "missing2", "missing3"))
    assert report.already_archived == 2
    assert report.skipped == {"absent": 1, "in-progress": 1}
    assert [f["sid"] for f in report.failed] == [recs["broken"].sid]
    assert report.bytes == 30_000 + 1_500_000 + 30_000
    assert not report.ok
    # Nothing already archived was downloaded again, and absent / live recordings were not fetched.
    fetched = harness.space.count("media") - media_before
    assert fetched == 3 + harness.space.count("media", recs["broken"].sid)
    for name in ("absent", "live", "archived1", "archived2"):
        assert harness.space.count("json", recs[name].sid) <= 1  # only the callback's own fetch
    names = set(blobs(harness))
    assert len(names) == 10  # five complete pairs
    assert not any(recs["broken"].sid in n for n in names)


def test_sweep_endpoint_answers_summary_and_500_on_failure(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    recs = mixed(harness)
    capsys.readouterr()
    body = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(body))
    assert reply.status == 500
    assert reply.body["outcome"] == "sweep_failed"
    assert reply.body["listed"] == 8
    assert reply.body["archived"] == 3
    assert reply.body["failed"][0]["sid"] == recs["broken"].sid
    lines = audit_lines(capsys.readouterr().out)
    per_recording = [line for line in lines if line.get("source") == "sweep"]
    assert sorted(line["outcome"] for line in per_recording) == ["archived", "archived", "archived", "failed"]
    (summary,) = [line for line in lines if line["message"].startswith("sweep")]
    assert summary["severity"] == "ERROR"
    assert summary["missed_by_callbacks"] == 3


def test_sweep_endpoint_clean_run_is_200_with_default_window(harness: Harness) -> None:
    rec = harness.space.add(size=10_000, created=datetime.now(UTC) - timedelta(hours=3))
    harness.space.add(size=10_000, created=datetime.now(UTC) - timedelta(hours=100))  # outside 48 h
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(b""))
    assert reply.status == 200
    assert reply.body["outcome"] == "sweep_ok"
    assert reply.body["archived_sids"] == [rec.sid]
    assert reply.body["listed"] == 1


def test_listing_failure_is_reported_not_raised(harness: Harness) -> None:
    harness.space.add(size=10_000, created=created(2))
    harness.space.fault("*", "list", *[Fault(503)] * 1000)
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(b'{"since": "2026-11-01", "until": "2026-11-30"}'))
    assert reply.status == 500
    assert reply.body["listed"] == 0
    assert "listing recordings failed" in reply.body["failed"][0]["error"]
    assert harness.space.count("list") >= 2  # retried before giving up


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("GET", b"", 405),
        ("POST", b"not json", 400),
        ("POST", b'{"since": "yesterday"}', 400),
        ("POST", b'{"since": "2026-11-02", "until": "2026-11-01"}', 400),
        ("POST", b"[1, 2]", 400),
    ],
)
def test_sweep_endpoint_refuses_bad_requests(harness: Harness, method: str, body: bytes, status: int) -> None:
    reply = handle_sweep(harness.service, method, {}, io.BytesIO(body))
    assert reply.status == status
    assert harness.space.count() == 0


def test_sweep_stops_cleanly_before_its_deadline(harness: Harness) -> None:
    recs = [harness.space.add(size=10_000, created=created(d)) for d in (2, 3, 4, 5)]

    def slow(_outcome: Outcome) -> None:
        time.sleep(0.6)  # the first recording eats the time left

    budget = harness.settings.retry_budget_s
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=budget + 0.3, on_outcome=slow)
    assert len(report.archived) == 1
    assert sorted(report.remaining) == sorted(r.sid for r in recs if r.sid not in report.archived)
    assert report.ok
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(b'{"since": "2026-11-01", "until": "2026-11-30"}'))
    assert reply.body["archived"] == 3  # the next run picks up what was left


def test_verify_catches_missing_and_corrupted_objects(harness: Harness, tmp_path: Path) -> None:
    good, gone, bad, absent = (harness.space.add(size=40_000, created=created(d)) for d in (2, 3, 4, 5))
    absent.status = "absent"
    for rec in (good, gone, bad):
        assert harness.post(harness.form(rec.sid)).body["outcome"] == "archived"
    bucket = bucket_of(harness)
    (gone_blob,) = [b for b in bucket.list_blobs() if b.name.endswith(f"{gone.sid}.mp3")]
    gone_blob.delete()
    (bad_blob,) = [b for b in bucket.list_blobs() if b.name.endswith(f"{bad.sid}.mp3")]
    bucket.blob(bad_blob.name).upload_from_string(b"\0" * 40_000, content_type="audio/mpeg")  # same size, other bytes

    rows = {row["recording_sid"]: row for row in verify(harness.archiver, *WINDOW, page_size=2)}
    assert rows[good.sid]["result"] == "ok"
    assert rows[good.sid]["computed_sha256"] == good.sha256()
    assert rows[good.sid]["size_verified"] is True
    # The manifest is written last: an audio object gone after it is a corrupt archive, not a missing one.
    assert rows[gone.sid]["result"] == "corrupt"
    assert gone.sid in rows[gone.sid]["detail"] and "missing" in rows[gone.sid]["detail"]
    assert rows[bad.sid]["result"] == "corrupt"
    assert rows[absent.sid]["result"] == "no_audio"


def test_verify_command_writes_csv_and_json_and_fails_on_problems(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archived, missing = harness.space.add(created=created(2)), harness.space.add(created=created(3))
    harness.post(harness.form(archived.sid))
    cli_env(monkeypatch, harness)
    report = tmp_path / "report.csv"
    assert cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30", "--output", str(report)]) == 1
    with report.open() as handle:
        rows = {row["recording_sid"]: row for row in csv.DictReader(handle)}
    assert rows[archived.sid]["result"] == "ok"
    assert rows[missing.sid]["result"] == "missing"
    out = capsys.readouterr().out
    assert "missing: 1, ok: 1" in out
    assert f"MISSING {missing.sid}" in out

    harness.post(harness.form(missing.sid))
    as_json = tmp_path / "report.json"
    assert cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30", "--output", str(as_json)]) == 0
    document = json.loads(as_json.read_text())
    assert {row["result"] for row in document["recordings"]} == {"ok"}


def test_backfill_dry_run_touches_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recs = mixed(harness)
    names_before = set(blobs(harness))
    requests_before = len(harness.space.requests)
    cli_env(monkeypatch, harness)
    code = cli.main(["backfill", "--since", "2026-11-01", "--until", "2026-11-30", "--dry-run", "--no-progress"])
    assert code == 0
    assert set(blobs(harness)) == names_before
    asked = harness.space.requests[requests_before:]
    assert {seen.path.rsplit("/", 1)[-1] for seen in asked} == {"Recordings.json", "recordings"}  # listings only
    out = capsys.readouterr().out
    assert "would archive" in out
    assert "dry run: nothing was downloaded, written or deleted" in out
    assert recs["missing1"].sid not in {d for d in harness.space.deleted}


def test_backfill_archives_then_resumes_and_exits_1_on_failure(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recs = mixed(harness)
    cli_env(monkeypatch, harness)
    args = ["backfill", "--since", "2026-11-01", "--until", "2026-11-30", "--concurrency", "3", "--no-progress"]
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert f"FAILED {recs['broken'].sid}" in out
    assert any(line.get("source") == "backfill" and line["outcome"] == "archived" for line in audit_lines(out))
    harness.space.faults.clear()
    media_before = harness.space.count("media")
    assert cli.main(args) == 0  # run again: only the broken one is fetched
    assert harness.space.count("media") - media_before == 1


def test_cli_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SIGNALWIRE_SPACE_URL", raising=False)
    assert cli.main(["verify", "--since", "2026-11-01"]) == 2
    assert capsys.readouterr().err == "error: SIGNALWIRE_SPACE_URL is not set (see docs/configuration.md)\n"
    with pytest.raises(SystemExit):
        cli.main(["backfill", "--since", "last tuesday"])
    assert "not an ISO 8601 date" in capsys.readouterr().err


# --- verified delete ---------------------------------------------------------------------------


def test_delete_follows_verified_archive(deleting: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = deleting.space.add(size=80_000)
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.body["deleted"] is True
    assert deleting.space.deleted == [rec.sid]
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["deleted"] is True
    evidence: dict[str, Any] = line["evidence"]
    assert evidence["audio_sha256"] == rec.sha256()
    assert evidence["audio_bytes"] == rec.size
    assert evidence["audio_uri"].endswith(f"{rec.sid}.mp3")
    assert evidence["metadata_uri"].endswith(f"{rec.sid}.json")
    assert isinstance(evidence["audio_generation"], int)
    # The delete happened after both objects existed.
    kinds = [seen.method for seen in deleting.space.requests]
    assert kinds[-1] == "DELETE"


def test_duplicate_callback_after_the_delete_is_already_archived(deleting: Harness) -> None:
    """SignalWire retries a callback that timed out; by then the recording is archived and deleted."""
    rec = deleting.space.add(size=60_000, created=datetime.now(UTC) - timedelta(minutes=3))
    assert deleting.post(deleting.form(rec.sid)).body["deleted"] is True
    json_before = deleting.space.count("json")
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 200
    assert reply.body["outcome"] == "already_archived"
    assert deleting.space.count("json") == json_before  # not asked: it would only answer 404 now
    assert deleting.space.deleted == [rec.sid]


def test_no_delete_when_the_upload_failed(deleting: Harness) -> None:
    rec = deleting.space.add()
    deleting.space.fault(rec.sid, "media", *[Fault(503)] * 1000)
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 503
    assert deleting.space.count("delete") == 0


def test_no_delete_when_the_stored_object_is_wrong(deleting: Harness) -> None:
    rec = deleting.space.add(size=50_000, created=created(3))
    assert deleting.archiver.archive(rec.sid, delete=False).outcome == "archived"
    tamper(deleting, rec.sid, b"\1" * 50_000)
    report = sweep(deleting.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.already_archived == 0
    assert [row["sid"] for row in report.corrupt] == [rec.sid]
    assert not report.ok
    assert report.deleted == 0
    assert deleting.space.count("delete") == 0
    verdict = deleting.archiver.archive(rec.sid, {"date_created": rec.metadata()["date_created"]})
    assert verdict.outcome == "corrupt"
    assert "recorded" in (verdict.error or "")
    assert verdict.deleted is None
    assert rec.sid in deleting.space.recordings


def test_corrupt_audio_is_reported_then_repaired_and_only_then_deleted(deleting: Harness) -> None:
    """An archived audio object replaced behind our back: the sweep says so; --repair rewrites it, then deletes."""
    rec = deleting.space.add(size=50_000, created=created(3))
    deleting.archiver.archive(rec.sid, delete=False)
    name = next(b.name for b in bucket_of(deleting).list_blobs() if b.name.endswith(".mp3"))
    bucket_of(deleting).blob(name).upload_from_string(b"half", content_type="audio/mpeg")
    report = sweep(deleting.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert [row["sid"] for row in report.corrupt] == [rec.sid]
    assert deleting.space.deleted == []
    report = sweep(deleting.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert report.archived == [rec.sid]
    assert report.repaired == [rec.sid]
    assert bucket_of(deleting).blob(name).download_as_bytes() == rec.audio()
    assert deleting.space.deleted == [rec.sid]
    audio, _manifest = deleting.archiver.evidence(*deleting.archiver.keys_of(rec.sid, rec.metadata()))
    assert audio.metadata["sha256"] == rec.sha256()  # the manifest now describes the rewritten object


def test_sweep_deletes_already_archived_recordings_with_evidence(deleting: Harness) -> None:
    rec = deleting.space.add(size=30_000, created=created(4))
    deleting.archiver.archive(rec.sid, delete=False)
    assert deleting.space.deleted == []
    report = sweep(deleting.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.already_archived == 1
    assert report.deleted == 1
    assert deleting.space.deleted == [rec.sid]


def test_delete_failure_keeps_the_archive_and_says_so(deleting: Harness) -> None:
    rec = deleting.space.add()
    deleting.space.fault(rec.sid, "delete", *[Fault(500)] * 1000)
    reply = deleting.post(deleting.form(rec.sid))
    assert reply.status == 200
    assert reply.body["outcome"] == "archived"
    assert reply.body["deleted"] is False
    assert rec.sid in deleting.space.recordings


def test_unreachable_space_fails_fast_naming_the_host(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    cli_env(monkeypatch, harness, SIGNALWIRE_SPACE_URL=closed, RETRY_BUDGET_SECONDS="30")
    started = time.monotonic()
    assert cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30"]) == 2
    assert time.monotonic() - started < 5  # not 30 s of retries: a refused host is a configuration error
    (line,) = capsys.readouterr().err.splitlines()
    host = closed.removeprefix("http://")
    assert line == f"error: Unreachable: cannot reach {host}: the connection was refused; check SIGNALWIRE_SPACE_URL"


def test_the_command_line_shows_that_it_is_retrying(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.space.fault("*", "list", Fault(503), Fault(429, retry_after="1"))
    cli_env(monkeypatch, harness, RETRY_BUDGET_SECONDS="30")
    assert cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30"]) == 0
    retries = [line for line in capsys.readouterr().err.splitlines() if line.startswith("retrying in ")]
    assert len(retries) == 2
    assert "recordings list: HTTP 503" in retries[0] and "HTTP 429" in retries[1]


def test_verify_streams_its_rows_and_reads_the_listing_as_they_are_taken(harness: Harness) -> None:
    """Before: the whole listing was read, and every recording looked up, before the first row came out."""
    for n in range(60):
        harness.space.add(size=1_000, created=created(2 + n % 20))
    rows = verify(harness.archiver, *WINDOW, read_bytes=False, concurrency=2, page_size=5)
    first = next(rows)
    assert first["result"] == "missing"
    asked = harness.space.count("list")
    assert asked <= 3, asked  # a page, and perhaps the next while the pool looks ahead; not all 12
    assert 1 + sum(1 for _ in rows) == 60
    assert harness.space.count("list") == 12


def test_verify_command_holds_no_list_of_rows(
    make_harness: Callable[..., Harness],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """verify --output --report over many recordings: memory does not grow with the rows (measured by tracemalloc,
    which counts allocations, not time). Before: every row was held in a list, about 4 KB each."""
    import tracemalloc

    harness = make_harness(local=True)
    cli_env(monkeypatch, harness)
    peaks = []
    for count in (1_000, 8_000):
        harness.space.recordings.clear()
        for n in range(count):
            harness.space.add(size=1_000, created=created(2 + n % 20))
        argv = ["verify", "--since", "2026-11-01", "--until", "2026-11-30", "--metadata-only"]
        argv += ["--output", str(tmp_path / "rows.json"), "--report", str(tmp_path / "report.html")]
        tracemalloc.start()
        try:
            assert cli.main(argv) == 1
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        rows = json.loads((tmp_path / "rows.json").read_text())["recordings"]
        assert len(rows) == count and {row["result"] for row in rows} == {"missing"}
        out = capsys.readouterr().out
        assert f"verified {count} recordings" in out and f"missing: {count}" in out
    assert peaks[1] < 2 * peaks[0], peaks


def test_verify_output_is_whole_or_absent(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows are written as they come, so a run that breaks off halfway must not leave a CSV that looks complete:
    the file appears only once every row is in it. A listing that fails is a row of its own, never silence."""
    for n in range(6):
        harness.space.add(size=1_000, created=created(2 + n))
    cli_env(monkeypatch, harness)
    rows_file = tmp_path / "rows.csv"
    argv = ["verify", "--since", "2026-11-01", "--until", "2026-11-30", "--output", str(rows_file)]
    judged = verify_module.verify_one
    calls = 0

    def breaks_on_the_fourth(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("the run broke off")
        return judged(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(verify_module, "verify_one", breaks_on_the_fourth)
        assert cli.main(argv) == 2
    assert "the run broke off" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # Three rows a page, and the second page refused: the first page's rows and a row naming the listing.
    harness.space.fault("*", "list", Fault(), Fault(403))
    monkeypatch.setitem(verify.__kwdefaults__, "page_size", 3)  # type: ignore[arg-type]
    assert cli.main(argv) == 1
    rows = list(csv.DictReader(rows_file.open()))
    assert [row["result"] for row in rows if row["recording_sid"]] == ["missing"] * 3
    assert any("listing recordings failed (laml)" in row["detail"] for row in rows if not row["recording_sid"])
