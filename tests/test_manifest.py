"""The manifest's keys, a listing's pairs, the report columns a pair fills and an outcome's audit fields, on values
built here (no store needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archiver.archive_view import fill_objects, fill_recorded
from archiver.audioformat import FormatDecision
from archiver.errors import Corrupt
from archiver.inventory import Archived
from archiver.layout import ArchiveKeys, keys_for
from archiver.manifest import AUDIO_FORMAT_HINTS, AUDIO_OBJECT, Manifest, StoredPair, audio_in, by_recording, pair_in
from archiver.outcome import DeleteResult, Outcome, archive_fields
from archiver.storage import StoredObject

DAY = "acct/2026/11/03/"
SID = "19e436af-5688-4307-b03b-bdb2b42b8142"


def stored(key: str, metadata: dict[str, str] | None = None) -> StoredObject:
    return StoredObject(key, f"gs://bucket/{key}", 10, "AAAAAA==", 1, "audio/mpeg", metadata or {})


def test_a_manifest_written_reads_back_the_same_and_leaves_out_hints_it_had_none_of() -> None:
    audio = stored(f"{DAY}{SID}.mp3", {"sha256": "a" * 64})
    written = Manifest.of(SID, audio, True, FormatDecision("mp3", "ID3v2 tag"))
    metadata = written.to_metadata()
    assert AUDIO_FORMAT_HINTS not in metadata
    assert metadata[AUDIO_OBJECT] == audio.uri and metadata["audio-size-verified"] == "true"
    assert Manifest.from_metadata(metadata) == written
    hinted = Manifest.of(SID, audio, False, FormatDecision("mp3", "ID3v2 tag", (("event", "wav"),)))
    assert hinted.to_metadata()[AUDIO_FORMAT_HINTS] == "event=wav"


def test_a_listing_is_grouped_by_recording_and_a_deeper_folder_is_another_recording() -> None:
    keys = keys_for("acct", SID, datetime(2026, 11, 3), "mp3")
    assert keys == ArchiveKeys(f"{DAY}{SID}.mp3", f"{DAY}{SID}.json")
    audio = stored(keys.audio)
    manifest = stored(keys.manifest, {AUDIO_OBJECT: audio.uri})
    nested = stored(f"{DAY}x/{SID}.json", {AUDIO_OBJECT: audio.uri})
    groups = list(by_recording([audio, manifest, nested, stored(f"{DAY}{SID}z.wav")]))
    assert [base for base, _ in groups] == [f"{DAY}{SID}", f"{DAY}x/{SID}", f"{DAY}{SID}z"]
    assert pair_in(groups[0][1]) == (audio, manifest)
    # The nested manifest names an audio object its group does not hold: no pair.
    assert pair_in(groups[1][1]) is None and audio_in(groups[1][1]) is None
    # Without a manifest there is no pair, but the audio is still shown.
    assert pair_in(groups[2][1]) is None and audio_in(groups[2][1]) is not None


def test_a_manifest_naming_another_object_has_no_pair() -> None:
    audio = stored(f"{DAY}{SID}.mp3")
    group = {"mp3": audio, "json": stored(f"{DAY}{SID}.json", {AUDIO_OBJECT: "gs://bucket/elsewhere.mp3"})}
    assert pair_in(group) is None and audio_in(group) is None


def _recorded_pair(audio_sha256: str) -> tuple[StoredObject, StoredObject]:
    """An audio object and a manifest recording it, the manifest naming `audio_sha256`; both retained."""
    kept = datetime(2027, 1, 1, tzinfo=UTC)
    audio = StoredObject(
        f"{DAY}{SID}.mp3",
        f"gs://bucket/{DAY}{SID}.mp3",
        10,
        "AAAAAA==",
        7,
        "audio/mpeg",
        {"sha256": "a" * 64},
        retained_until=kept,
    )
    recorded = Manifest.of(SID, audio, True, FormatDecision("mp3", "ID3v2 tag"))
    metadata = {**recorded.to_metadata(), "audio-sha256": audio_sha256}
    manifest = StoredObject(
        f"{DAY}{SID}.json",
        f"gs://bucket/{DAY}{SID}.json",
        400,
        "BBBBBB==",
        8,
        "application/json",
        metadata,
        retained_until=kept,
        held=True,
    )
    return audio, manifest


def test_the_objects_fill_their_columns_whichever_of_them_is_there() -> None:
    audio, manifest = _recorded_pair("a" * 64)
    row: dict[str, object] = {}
    fill_objects(row, audio, manifest)
    assert row == {
        "metadata_present": True,
        "held": True,
        "audio_uri": audio.uri,
        "audio_bytes": 10,
        "audio_crc32c": "AAAAAA==",
    }
    alone: dict[str, object] = {}
    fill_objects(alone, None, None)
    assert alone == {"metadata_present": False, "held": False}


def test_an_agreeing_pair_fills_what_its_manifest_records_and_its_retention() -> None:
    audio, manifest = _recorded_pair("a" * 64)
    row: dict[str, object] = {}
    assert fill_recorded(row, audio, manifest, lambda _recorded: "unused") == StoredPair(audio, manifest)
    assert row == {
        "metadata_uri": manifest.uri,
        "recorded_bytes": 10,
        "size_verified": True,
        "recorded_crc32c": "AAAAAA==",
        "recorded_sha256": "a" * 64,
        "retained_until": "2027-01-01T00:00:00+00:00",
    }


def test_a_manifest_without_its_audio_or_disagreeing_with_it_is_corrupt_after_filling_what_it_records() -> None:
    audio, manifest = _recorded_pair("b" * 64)
    gone: dict[str, object] = {}
    with pytest.raises(Corrupt, match=r"^gone: gs://bucket/acct/2026/11/03/.*\.mp3$"):
        fill_recorded(gone, None, manifest, lambda recorded: f"gone: {recorded.audio_object}")
    assert gone["recorded_sha256"] == "b" * 64 and "retained_until" not in gone
    disagreeing: dict[str, object] = {}
    with pytest.raises(Corrupt, match="stored sha256"):
        fill_recorded(disagreeing, audio, manifest, lambda _recorded: "unused")
    assert disagreeing["recorded_bytes"] == 10 and "retained_until" not in disagreeing


def test_a_listed_archive_gives_an_outcome_the_figures_a_pair_read_object_by_object_gives() -> None:
    audio, manifest = _recorded_pair("a" * 64)
    read = archive_fields(StoredPair(audio, manifest))
    listed = Archived("mp3", 10, "AAAAAA==", "a" * 64, 7, True, "2027-01-01T00:00:00+00:00", held=True)
    assert listed.figures() == {key: value for key, value in read.items() if not key.endswith("_uri")}
    outcome = Outcome("already_archived", recording_sid=SID, account_sid="acct", **listed.figures())
    assert (outcome.bytes, outcome.generation, outcome.retained_until) == (10, 7, "2027-01-01T00:00:00+00:00")


def test_the_audit_fields_of_a_delete_come_from_its_result() -> None:
    evidence = {"audio_uri": "gs://bucket/a.mp3"}
    deletion = DeleteResult(deleted=True, status=204, evidence=evidence, record="gs://bucket/a.deletion.json")
    outcome = Outcome("archived", recording_sid=SID, account_sid="acct", audio_format="mp3", deletion=deletion)
    fields = outcome.fields()
    assert "retryable" not in fields and "deletion" not in fields
    assert fields["audio_format"] == "mp3" and outcome.deleted is True
    assert {k: fields[k] for k in ("deleted", "delete_status", "evidence", "deletion_record")} == {
        "deleted": True,
        "delete_status": 204,
        "evidence": evidence,
        "deletion_record": "gs://bucket/a.deletion.json",
    }
    skipped = Outcome(
        "archived", recording_sid=SID, account_sid="acct", deletion=DeleteResult(False, skipped="no size")
    )
    assert {k: v for k, v in skipped.fields().items() if k.startswith("delete")} == {
        "deleted": False,
        "delete_skipped": "no size",
    }
    failed = Outcome("failed", recording_sid=SID, account_sid="acct", task_id="t")
    assert failed.deleted is None and failed.fields()["retryable"] is True and failed.fields()["task_id"] == "t"
