"""The manifest's keys, a listing's pairs and an outcome's audit fields, on values built here (no store needed)."""

from __future__ import annotations

from datetime import datetime

from archiver.audioformat import FormatDecision
from archiver.layout import ArchiveKeys, keys_for
from archiver.manifest import AUDIO_FORMAT_HINTS, AUDIO_OBJECT, Manifest, audio_in, by_recording, pair_in
from archiver.outcome import DeleteResult, Outcome
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
