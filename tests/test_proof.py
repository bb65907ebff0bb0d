"""Proof of deletion: the record a verified delete at SignalWire leaves beside the recording, and verify's columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.inventory import Inventory
from archiver.outcome import Outcome
from archiver.proof import deletion_key, record_deletion
from archiver.report import Report
from archiver.storage import VerifyingReader
from archiver.verify import verify, verify_one
from localspace.space import Fault
from tests.helpers import WINDOW, Harness, audit_lines, only_line

CREATED = datetime(2026, 11, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize("local", [False, True], ids=["gcs", "local"])
def test_verified_delete_leaves_a_retained_record_beside_the_recording(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], local: bool
) -> None:
    harness = make_harness(local=local, DELETE_AFTER_ARCHIVE="true", OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=40_000, created=CREATED)
    outcome = harness.archiver.archive(rec.sid)
    assert outcome.outcome == "archived" and outcome.deleted is True
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata()).manifest
    record = harness.store.stat(deletion_key(meta_key))
    assert record is not None
    assert outcome.deletion is not None and outcome.deletion.record == record.uri
    assert record.key.endswith(f"{rec.sid}.deletion.json")
    # Retained like the recording: the proof outlives nothing it proves.
    assert record.retained_until is not None
    body = json.loads(harness.store.read_bytes(record.key))
    manifest = harness.store.stat(meta_key)
    assert manifest is not None
    assert body["recording_sid"] == rec.sid and body["api"] == "laml"
    assert body["signalwire_status"] == 204
    assert body["call_sid"] == rec.call_sid
    checked = body["checked_against"]
    assert checked["metadata_generation"] == manifest.generation
    assert checked["audio_sha256"] == rec.sha256() == manifest.metadata["audio-sha256"]
    assert datetime.fromisoformat(body["deleted_at"]) <= datetime.now(UTC)
    assert record.metadata["delete-status"] == "204"
    assert record.metadata["metadata-generation"] == str(manifest.generation)
    capsys.readouterr()


def test_record_is_create_only_the_first_proof_stays(harness: Harness) -> None:
    rec = harness.space.add(size=20_000, created=CREATED)
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata()).manifest
    outcome = Outcome("archived", recording_sid=rec.sid, account_sid=harness.space.project_id)
    evidence = {"metadata_generation": 1, "audio_sha256": "a" * 64}
    first, _ = record_deletion(harness.store, meta_key, outcome, evidence, 204, None)
    evidence = {"metadata_generation": 2, "audio_sha256": "b" * 64}
    second, conflict = record_deletion(harness.store, meta_key, outcome, evidence, 404, None)
    assert second.generation == first.generation and conflict is not None
    assert json.loads(harness.store.read_bytes(first.key))["signalwire_status"] == 204


def test_failed_delete_leaves_no_record_and_stays_a_follow_up(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    rec = harness.space.add(size=20_000, created=CREATED)
    harness.space.fault(rec.sid, "delete", *[Fault(403)] * 5)
    outcome = harness.archiver.archive(rec.sid)
    assert outcome.deleted is False
    assert outcome.deletion is not None and outcome.deletion.record is None
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata()).manifest
    assert harness.store.stat(deletion_key(meta_key)) is None
    (row,) = list(verify(harness.archiver, *WINDOW, read_bytes=False))
    assert row["result"] == "ok"
    assert (row["signalwire_copy"], row["deletion_evidence"]) == ("listed", "")


def test_a_delete_whose_record_cannot_be_written_is_still_an_error_line_with_its_evidence(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    """SignalWire deleted, then the store refused the record (here a directory in its place, a persistent failure
    of a real store). Before: the line said `failed` with no word of the delete, and the retried callback met a
    recording SignalWire announces no size for, skipped the delete and never wrote a record either."""
    harness = make_harness(local=True, DELETE_AFTER_ARCHIVE="true")
    rec = harness.space.add(size=20_000, created=datetime.now(UTC) - timedelta(minutes=5))
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata()).manifest
    in_the_way = Path(harness.settings.archive_uri) / deletion_key(meta_key)
    in_the_way.mkdir(parents=True)
    capsys.readouterr()
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503 and reply.body["error"] == "storage_error"
    (line,) = [line for line in audit_lines(capsys.readouterr().out) if line.get("outcome")]
    assert (line["severity"], line["outcome"], line["deleted"], line["delete_status"]) == ("ERROR", "failed", True, 204)
    assert line["evidence"]["audio_sha256"] == rec.sha256()
    assert "deletion_record" not in line and line["deletion_record_error"]
    assert harness.space.count("delete", rec.sid) == 1
    in_the_way.rmdir()
    # SignalWire's retry finds its copy gone: nothing more to prove against, so the ERROR line above stays the proof.
    again = harness.post(harness.form(rec.sid))
    assert again.status == 200 and again.body["outcome"] == "already_archived"
    assert harness.store.stat(deletion_key(meta_key)) is None


@pytest.mark.parametrize("local", [False, True], ids=["gcs", "local"])
def test_verify_says_where_signalwires_copy_stands_and_on_what_evidence(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], local: bool
) -> None:
    harness = make_harness(local=local)
    kept = harness.space.add(size=20_000, created=CREATED)
    gone = harness.space.add(size=30_000, created=CREATED)
    assert harness.archiver.archive(kept.sid).outcome == "archived"
    deleted = harness.archiver.archive(gone.sid, delete=True)
    assert deleted.deleted is True
    # SignalWire answered 204, yet lists the recording again: verify must show the contradiction.
    harness.space.recordings[gone.sid] = gone
    # The inventory pairs the manifest with its audio; the record beside them is neither.
    inventory = Inventory(harness.store, harness.space.project_id)
    archived = inventory.archived(gone.sid, CREATED)
    assert archived is not None and archived.fmt == "mp3" and archived.deletion is not None
    assert archived.deletion.status == "204"
    rows = {row["recording_sid"]: row for row in verify(harness.archiver, *WINDOW, read_bytes=True)}
    assert rows[kept.sid]["result"] == rows[gone.sid]["result"] == "ok"
    assert (rows[kept.sid]["signalwire_copy"], rows[kept.sid]["deletion_evidence"]) == ("listed", "")
    assert rows[gone.sid]["signalwire_copy"] == "listed_after_delete"
    evidence = rows[gone.sid]["deletion_evidence"]
    assert "DELETE answered 204" in evidence and gone.sha256() in evidence and f"{gone.sid}.deletion.json" in evidence
    # Without the listing (one recording looked at alone) the record is read directly, to the same answer.
    alone = verify_one(harness.archiver, gone.metadata() | {"status": "completed"}, read_bytes=False)
    assert (alone["signalwire_copy"], alone["deletion_evidence"]) == ("listed_after_delete", evidence)
    assert audit_lines(capsys.readouterr().out) == []


def plant_record(harness: Harness, sid: str, sha256: str) -> str:
    """A `{sid}.deletion.json` written by someone else (anyone who may create objects), claiming a 204."""
    meta_key = harness.archiver.keys_of(sid, harness.space.recordings[sid].metadata())[1]
    metadata = {"recording-sid": sid, "deleted-at": "2026-11-03T12:00:00+00:00", "delete-status": "204"}
    planted = harness.store.put(
        deletion_key(meta_key),
        VerifyingReader.of_bytes(b'{"forged": true}\n'),
        "application/json",
        {**metadata, "metadata-generation": "1", "audio-sha256": sha256},
    )
    return planted.uri


@pytest.mark.parametrize("local", [False, True], ids=["gcs", "local"])
def test_verify_never_takes_a_record_of_other_bytes_for_proof(
    make_harness: Callable[..., Harness], local: bool
) -> None:
    """Before: any object under the record's name was shown as the delete's evidence and counted as deleted."""
    harness = make_harness(local=local)
    rec = harness.space.add(size=20_000, created=CREATED)
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    uri = plant_record(harness, rec.sid, "f" * 64)
    for read_bytes in (True, False):  # through the archive's listing, and each object read alone
        (row,) = list(verify(harness.archiver, *WINDOW, read_bytes=read_bytes))
        assert row["signalwire_copy"] == "deletion_record_mismatch"
        assert (
            row["deletion_evidence"]
            == f"{uri} names audio sha256 {'f' * 64}, the archive holds {rec.sha256()}: not evidence"
        )
    alone = verify_one(harness.archiver, rec.metadata() | {"status": "completed"}, read_bytes=False)
    assert alone["signalwire_copy"] == "deletion_record_mismatch"
    report = Report(*WINDOW, configuration={}).add_all([row])
    assert report.series_totals["deleted"] == 0
    (exception,) = report.exceptions
    assert exception["result"] == "ok, deletion record mismatch" and "not evidence" in exception["detail"]


def test_a_record_planted_before_the_delete_stays_but_is_never_this_deletes_proof(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the create conflict took the planted record for "the earlier proof" and said nothing."""
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    rec = harness.space.add(size=20_000, created=CREATED)
    uri = plant_record(harness, rec.sid, "0" * 64)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    line = only_line(capsys)
    assert line["deleted"] is True and line["evidence"]["audio_sha256"] == rec.sha256()
    assert line["deletion_record_conflict"].startswith(f"{uri} was already there and names audio sha256 '{'0' * 64}'")
