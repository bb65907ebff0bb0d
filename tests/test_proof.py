"""Proof of deletion: the record a verified delete at SignalWire leaves beside the recording, and verify's columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from archiver.archive import Outcome
from archiver.inventory import Inventory
from archiver.proof import deletion_key, record_deletion
from archiver.reconcile import verify, verify_one
from localspace.space import Fault
from tests.helpers import WINDOW, Harness, audit_lines

CREATED = datetime(2026, 11, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize("local", [False, True], ids=["gcs", "local"])
def test_verified_delete_leaves_a_retained_record_beside_the_recording(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], local: bool
) -> None:
    harness = make_harness(local=local, DELETE_AFTER_ARCHIVE="true", OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=40_000, created=CREATED)
    outcome = harness.archiver.archive(rec.sid)
    assert outcome.outcome == "archived" and outcome.extra["deleted"] is True
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())[1]
    record = harness.store.stat(deletion_key(meta_key))
    assert record is not None
    assert outcome.extra["deletion_record"] == record.uri
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
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())[1]
    outcome = Outcome("archived", recording_sid=rec.sid, account_sid=harness.space.project_id)
    outcome.extra["evidence"] = {"metadata_generation": 1, "audio_sha256": "a" * 64}
    first = record_deletion(harness.store, meta_key, outcome, 204, None)
    outcome.extra["evidence"] = {"metadata_generation": 2, "audio_sha256": "b" * 64}
    second = record_deletion(harness.store, meta_key, outcome, 404, None)
    assert second.generation == first.generation
    assert json.loads(harness.store.read_bytes(first.key))["signalwire_status"] == 204


def test_failed_delete_leaves_no_record_and_stays_a_follow_up(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    rec = harness.space.add(size=20_000, created=CREATED)
    harness.space.fault(rec.sid, "delete", *[Fault(403)] * 5)
    outcome = harness.archiver.archive(rec.sid)
    assert outcome.extra["deleted"] is False
    assert "deletion_record" not in outcome.extra
    meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())[1]
    assert harness.store.stat(deletion_key(meta_key)) is None
    (row,) = list(verify(harness.archiver, *WINDOW, read_bytes=False))
    assert row["result"] == "ok"
    assert (row["signalwire_copy"], row["deletion_evidence"]) == ("listed", "")


@pytest.mark.parametrize("local", [False, True], ids=["gcs", "local"])
def test_verify_says_where_signalwires_copy_stands_and_on_what_evidence(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], local: bool
) -> None:
    harness = make_harness(local=local)
    kept = harness.space.add(size=20_000, created=CREATED)
    gone = harness.space.add(size=30_000, created=CREATED)
    assert harness.archiver.archive(kept.sid).outcome == "archived"
    deleted = harness.archiver.archive(gone.sid, delete=True)
    assert deleted.extra["deleted"] is True
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
