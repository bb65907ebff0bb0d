"""Object retention set only after verification: verified archives are frozen, failed attempts never block a name.

fake-gcs-server stores an object's retention but does not enforce it; the local archive enforces it
the way GCS does (a delete before the end is refused), so the "delete forbidden" paths run there.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver import cli, config
from archiver.errors import DeleteForbidden
from archiver.service import Service
from archiver.signalwire import Budget
from archiver.storage import GcsStore, VerifyingReader
from archiver.sweep import sweep
from archiver.verify import verify
from tests.helpers import WINDOW, WINDOW_ARGS, Harness, audit_lines, bucket_of, cli_env, env_for


def test_verified_objects_are_retained_in_the_same_patch(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=40_000)
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "archived"
    blobs = list(bucket_of(harness).list_blobs())
    assert len(blobs) == 2
    for blob in blobs:
        assert blob.retention.mode == "Unlocked"
        until = blob.retention.retain_until_time
        assert until is not None and abs(until - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["retained_until"]
    (row,) = verify(harness.archiver, *WINDOW)
    assert row["result"] == "ok" and row["retained_until"]


def test_unverified_bytes_stay_deletable_so_a_name_never_gets_stuck(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True, OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=40_000)
    audio_key, _ = harness.archiver.keys(harness.archiver.sources["laml"].recording(rec.sid, Budget.of(10)))
    # What an attempt that died before verifying leaves: wrong bytes, no SHA-256, no retention.
    harness.store.put(audio_key, VerifyingReader.of_bytes(b"half a recording"), "audio/mpeg", {})
    reply = harness.post(harness.form(rec.sid))
    assert reply.body["outcome"] == "archived"
    assert harness.store.read_bytes(audio_key) == rec.audio()
    stored = harness.store.stat(audio_key)
    assert stored is not None and stored.retained_until is not None
    with pytest.raises(DeleteForbidden, match="retained until"):
        harness.store.delete(audio_key, stored.generation)


def test_retained_archive_is_never_repaired_away(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True, OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=30_000, created=datetime(2026, 11, 3, tzinfo=UTC))
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    (path,) = Path(harness.settings.archive_uri).rglob(f"{rec.sid}.mp3")
    path.write_bytes(b"\0" * 30_000)  # damaged in place, behind the archiver's back
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert [row["sid"] for row in report.corrupt] == [rec.sid]
    assert "cannot repair" in report.corrupt[0]["error"] and "retained until" in report.corrupt[0]["error"]
    assert path.read_bytes() == b"\0" * 30_000


def test_retention_switched_on_later_is_completed_by_the_sweep(make_harness: Callable[..., Harness]) -> None:
    first = make_harness()
    rec = first.space.add(size=30_000, created=datetime(2026, 11, 4, tzinfo=UTC))
    assert first.archiver.archive(rec.sid).outcome == "archived"
    store = first.store
    assert isinstance(store, GcsStore)
    # The same bucket, now under a deployment with retention on.
    settings = config.load(env_for(first.space, ARCHIVE_URI=first.settings.archive_uri, OBJECT_RETENTION_DAYS="7"))
    retaining = Service.from_settings(
        settings, store=store, sources=first.archiver.sources, policy=first.archiver.policy
    ).archiver
    (row,) = verify(retaining, *WINDOW)
    assert row["result"] == "not_retained"
    outcome = retaining.archive(rec.sid, rec.metadata())
    assert outcome.outcome == "already_archived"
    assert outcome.retention_completed is True
    (row,) = verify(retaining, *WINDOW)
    assert row["result"] == "ok"  # the manifest follows the audio's new generation: not corrupt
    assert all(blob.retention.retain_until_time for blob in bucket_of(first).list_blobs())


@pytest.mark.parametrize("guard", ["retention", "hold"])
def test_an_archive_repair_cannot_remove_is_named_in_its_audit_line(
    make_harness: Callable[..., Harness],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    guard: str,
) -> None:
    """`backfill --repair` meets a disagreeing audio object it may not delete (retained, or under a legal hold): its
    `corrupt` line names that object and its manifest, with the stored figures, as the line without --repair does.
    Before: the line carried the error only, no URI, size, CRC32C or generation. Local store: it enforces both."""
    harness = make_harness(local=True, **({"OBJECT_RETENTION_DAYS": "30"} if guard == "retention" else {}))
    rec = harness.space.add(size=30_000, created=datetime(2026, 11, 3, tzinfo=UTC))
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    audio_key, meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())
    if guard == "hold":
        harness.store.set_hold(audio_key, True)
    (path,) = Path(harness.settings.archive_uri).rglob(f"{rec.sid}.mp3")
    path.write_bytes(b"\0" * 30_000)  # damaged in place, behind the archiver's back
    damaged = harness.store.stat(audio_key)
    assert damaged is not None
    cli_env(monkeypatch, harness)
    capsys.readouterr()
    assert cli.main(["backfill", *WINDOW_ARGS, "--no-progress", "--repair"]) == 1
    (line,) = [line for line in audit_lines(capsys.readouterr().out) if line.get("recording_sid") == rec.sid]
    assert line["outcome"] == "corrupt" and "cannot repair" in line["error"]
    assert (line["audio_uri"], line["metadata_uri"]) == (harness.store.uri(audio_key), harness.store.uri(meta_key))
    assert (line["bytes"], line["crc32c"], line["generation"]) == (30_000, damaged.crc32c, damaged.generation)
    assert path.read_bytes() == b"\0" * 30_000


def test_a_retention_that_cannot_be_completed_names_the_archive_in_its_audit_line(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Retention switched on later, and the store refuses the patch that completes it (an immutable metadata
    directory, even to root): the `failed` line names the archive found, with its figures, as it did before the
    lookup returned values. Before: the error only, no URI, size, CRC32C or generation."""
    harness = make_harness(local=True)
    rec = harness.space.add(size=30_000, created=datetime(2026, 11, 4, tzinfo=UTC))
    first = harness.archiver.archive(rec.sid)
    assert (first.outcome, first.retained_until) == ("archived", None)
    audio_key, meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())
    root = Path(harness.settings.archive_uri)
    (attrs,) = (root / ".meta").rglob(f"{rec.sid}.mp3.json")
    cli_env(monkeypatch, harness, OBJECT_RETENTION_DAYS="7")
    capsys.readouterr()
    subprocess.run(["chattr", "+i", str(attrs.parent)], check=True)
    try:
        assert cli.main(["backfill", *WINDOW_ARGS, "--no-progress"]) == 1
    finally:
        subprocess.run(["chattr", "-i", str(attrs.parent)], check=True)
    (line,) = [line for line in audit_lines(capsys.readouterr().out) if line.get("recording_sid") == rec.sid]
    assert line["outcome"] == "failed" and "PermissionError" in line["error"]
    assert (line["audio_uri"], line["metadata_uri"]) == (harness.store.uri(audio_key), harness.store.uri(meta_key))
    assert (line["bytes"], line["crc32c"], line["generation"]) == (30_000, first.crc32c, first.generation)
    assert line["size_verified"] is True and "retained_until" not in line
