"""Archives an earlier version stored under the wrong extension: still valid, reported `misnamed` by verify, and
copied to the right name by backfill --repair where retention allows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from archiver.layout import audio_key_of
from archiver.signalwire import Budget
from archiver.storage import VerifyingReader
from archiver.sweep import sweep
from archiver.verify import verify
from localspace.space import FakeRecording, Fault
from tests.helpers import WINDOW, Harness


def archive_as_before(harness: Harness, rec: FakeRecording) -> tuple[str, str]:
    """The objects the archiver wrote before formats came from the bytes: an MP3 RELAY recording, whose URL named
    no extension, stored as `.wav` with audio/wav, and a manifest that names it (and says nothing of a format)."""
    archiver, store = harness.archiver, harness.store
    recording = archiver.sources["relay"].recording(rec.sid, Budget.of(10))
    _, meta_key = archiver.keys(recording)
    wav_key = audio_key_of(meta_key, "wav")
    audio = store.put(
        wav_key,
        VerifyingReader.of_bytes(rec.audio()),
        "audio/wav",
        {**archiver.writer.audio_metadata(recording), "sha256": rec.sha256()},
    )
    manifest = {
        "recording-sid": rec.sid,
        "audio-object": audio.uri,
        "audio-generation": str(audio.generation),
        "audio-bytes": str(audio.size),
        "audio-size-verified": "true",
        "audio-crc32c": audio.crc32c,
        "audio-sha256": rec.sha256(),
        "archiver-version": "0.before",
    }
    store.put(meta_key, VerifyingReader.of_bytes(recording.raw), "application/json", manifest)
    retention = archiver.retention()
    if retention is not None:
        for key in (wav_key, meta_key):
            obj = store.stat(key)
            assert obj is not None
            store.set_metadata(key, obj.generation, obj.metadata, retention)
    return wav_key, meta_key


def keys_in(harness: Harness) -> set[str]:
    return {obj.key for obj in harness.store.list_objects(f"{harness.space.project_id}/")}


@pytest.fixture
def old(harness: Harness) -> tuple[FakeRecording, str, str]:
    rec = harness.space.add(size=30_000, api="relay", fmt="mp3", created=datetime(2026, 11, 12, tzinfo=UTC))
    return (rec, *archive_as_before(harness, rec))


def test_an_archive_under_the_old_extension_stays_valid(harness: Harness, old: tuple[FakeRecording, str, str]) -> None:
    rec, wav_key, meta_key = old
    reply = harness.post_event(harness.space.event(rec))
    assert (reply.status, reply.body["outcome"]) == (200, "already_archived")
    assert reply.body["audio_uri"] == harness.store.uri(wav_key)
    assert keys_in(harness) == {wav_key, meta_key}
    assert harness.space.count("media") == 0


def test_verify_reports_it_misnamed(harness: Harness, old: tuple[FakeRecording, str, str]) -> None:
    """Before: verify said `ok`."""
    rec, _, _ = old
    (row,) = verify(harness.archiver, *WINDOW)
    assert (row["recording_sid"], row["result"]) == (rec.sid, "misnamed")
    assert "holds mp3 (ID3v2 tag) under .wav" in row["detail"]


def test_backfill_repair_copies_it_to_the_right_name(harness: Harness, old: tuple[FakeRecording, str, str]) -> None:
    """Before: --repair passed over an archive that agreed with its manifest."""
    rec, _, meta_key = old
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert (report.repaired, report.repair_incomplete, report.failed) == ([rec.sid], [], [])
    mp3_key = audio_key_of(meta_key, "mp3")
    assert keys_in(harness) == {mp3_key, meta_key}
    assert harness.store.read_bytes(mp3_key) == rec.audio()
    manifest = harness.store.stat(meta_key)
    assert manifest is not None
    assert manifest.metadata["audio-object"] == harness.store.uri(mp3_key)
    assert manifest.metadata["audio-format"] == "mp3"
    assert [row["result"] for row in verify(harness.archiver, *WINDOW)] == ["ok"]
    # A second repair finds nothing to do, without reading the audio again.
    again = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert (again.repaired, again.already_archived) == ([], 1)
    assert harness.space.count("media") == 0  # SignalWire was never asked for the audio


def test_retention_keeps_the_old_object_and_the_repair_says_so(make_harness: Callable[..., Harness]) -> None:
    """Local store: it enforces retention (fake-gcs-server does not), so the refused delete is real."""
    harness = make_harness(local=True, OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=30_000, api="relay", fmt="mp3", created=datetime(2026, 11, 12, tzinfo=UTC))
    wav_key, meta_key = archive_as_before(harness, rec)
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert report.repaired == [rec.sid]
    (incomplete,) = report.repair_incomplete
    assert incomplete["sid"] == rec.sid and "retained until" in incomplete["error"]
    mp3_key = audio_key_of(meta_key, "mp3")
    assert keys_in(harness) == {wav_key, mp3_key, meta_key}  # the old one stays, the manifest names the copy
    copy = harness.store.stat(mp3_key)
    assert copy is not None and copy.retained_until is not None
    assert [row["result"] for row in verify(harness.archiver, *WINDOW)] == ["ok"]


def test_a_held_archive_is_not_renamed_off_its_hold(make_harness: Callable[..., Harness]) -> None:
    """Before: the repair copied the held audio to an unheld `.mp3`, pointed the held manifest at it and left the
    held `.wav` orphaned, so verify no longer showed the recording held and a release could not find the old object.
    Local store: it enforces holds (fake-gcs-server ignores them)."""
    harness = make_harness(local=True)
    rec = harness.space.add(size=30_000, api="relay", fmt="mp3", created=datetime(2026, 11, 12, tzinfo=UTC))
    wav_key, meta_key = archive_as_before(harness, rec)
    for key in (wav_key, meta_key):
        harness.store.set_hold(key, True)
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert report.repaired == []
    (incomplete,) = report.repair_incomplete
    assert incomplete["sid"] == rec.sid and "legal hold" in incomplete["error"]
    assert keys_in(harness) == {wav_key, meta_key}
    manifest = harness.store.stat(meta_key)
    assert manifest is not None and manifest.metadata["audio-object"] == harness.store.uri(wav_key)
    (row,) = verify(harness.archiver, *WINDOW)
    assert (row["result"], row["held"]) == ("misnamed", True)


def test_a_name_taken_by_other_bytes_never_costs_the_archive(make_harness: Callable[..., Harness]) -> None:
    """The right name already holds other bytes (an unverified leftover, or planted). Before: the copy's Corrupt
    reached the repair of corrupt archives, which deleted the intact `.wav` the manifest names and fetched the
    audio again; with SignalWire's media refused, nothing was left. Local store, no retention: nothing else saves it."""
    harness = make_harness(local=True)
    rec = harness.space.add(size=30_000, api="relay", fmt="mp3", created=datetime(2026, 11, 12, tzinfo=UTC))
    wav_key, meta_key = archive_as_before(harness, rec)
    mp3_key = audio_key_of(meta_key, "mp3")
    harness.store.put(mp3_key, VerifyingReader.of_bytes(b"\xff\xfb\x90\x64" + bytes(500)), "audio/mpeg", {})
    harness.space.fault(rec.sid, "media", *[Fault(403)] * 20)
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert harness.store.read_bytes(wav_key) == rec.audio()
    (incomplete,) = report.repair_incomplete
    assert "holds other bytes" in incomplete["error"]
    assert harness.space.count("media") == 0
    manifest = harness.store.stat(meta_key)
    assert manifest is not None and manifest.metadata["audio-object"] == harness.store.uri(wav_key)
    (row,) = verify(harness.archiver, *WINDOW)
    assert row["result"] == "misnamed"
