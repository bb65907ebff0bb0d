"""Proof of deletion: the create-only record kept beside a recording once SignalWire's copy is gone."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archiver import __version__
from archiver.outcome import Outcome
from archiver.retention import retain
from archiver.storage import Retention, Store, StoredObject, VerifyingReader, put_or_existing

# `{sid}.deletion.json`: the inventory groups a recording's objects by what precedes the first dot, and
# only `json` (the manifest) and the audio extensions mean anything there, so this is never taken for either.
DELETION_SUFFIX = ".deletion.json"
DELETION_EXT = DELETION_SUFFIX.removeprefix(".")


def deletion_key(meta_key: str) -> str:
    """The record's key beside a manifest `{sid}.json`."""
    return meta_key.removesuffix(".json") + DELETION_SUFFIX


@dataclass(frozen=True, slots=True)
class Deletion:
    """A deletion record as its object's metadata describes it (a listing shows this without a read)."""

    uri: str
    deleted_at: str
    status: str
    metadata_generation: str
    audio_sha256: str

    @classmethod
    def of(cls, record: StoredObject) -> Deletion:
        meta = record.metadata
        return cls(
            uri=record.uri,
            deleted_at=meta.get("deleted-at", ""),
            status=meta.get("delete-status", ""),
            metadata_generation=meta.get("metadata-generation", ""),
            audio_sha256=meta.get("audio-sha256", ""),
        )

    def evidence(self) -> str:
        """One line for a report: what SignalWire answered, when, and what the archive was checked against."""
        return (
            f"DELETE answered {self.status} at {self.deleted_at}; checked against manifest generation "
            f"{self.metadata_generation}, audio sha256 {self.audio_sha256}; record {self.uri}"
        )


def record_deletion(
    store: Store,
    meta_key: str,
    outcome: Outcome,
    evidence: Mapping[str, Any],
    status: int,
    retention: Retention | None,
) -> tuple[StoredObject, str | None]:
    """Write the record once; an existing record is the earlier proof and stays as it is. Returns the record
    and, when one already there names other bytes than this archive's, why it is not this delete's proof.

    Called only after SignalWire answered a verified delete with a status that means the copy is gone,
    so a failed delete never leaves one. `evidence` is what the archive was checked against.
    """
    deleted_at = datetime.now(UTC).isoformat(timespec="seconds")
    body = {
        "record": "recording deleted at SignalWire after a verified archive",
        "recording_sid": outcome.recording_sid,
        "api": outcome.api,
        "account_sid": outcome.account_sid,
        "call_sid": outcome.call_sid,
        "deleted_at": deleted_at,
        "signalwire_status": status,
        "checked_against": dict(evidence),
        "archiver_version": __version__,
    }
    metadata = {
        "recording-sid": outcome.recording_sid,
        "api": outcome.api,
        "deleted-at": deleted_at,
        "delete-status": str(status),
        "metadata-generation": str(evidence.get("metadata_generation", "")),
        "audio-sha256": str(evidence.get("audio_sha256") or ""),
        "archiver-version": __version__,
    }
    key = deletion_key(meta_key)
    data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
    conflict = None
    written, created = put_or_existing(store, key, VerifyingReader.of_bytes(data), "application/json", metadata)
    if not created and written.metadata.get("audio-sha256") != metadata["audio-sha256"]:
        # Not an earlier proof of this archive (planted, or of other bytes): kept, create-only, but never
        # passed off as this delete's evidence; the audit line carries the real one.
        found = written.metadata.get("audio-sha256", "")[:64]
        conflict = (
            f"{written.uri} was already there and names audio sha256 {found!r}, not this archive's; kept as it is"
        )
    return retain(store, written, retention), conflict


def signalwire_copy(listed: bool, deletion: Deletion | None, archived_sha256: str) -> dict[str, str]:
    """verify's columns on SignalWire's copy: `deleted` only on a record of a verified delete of the archive's
    own bytes; a record naming other bytes (or beside no archive) is `deletion_record_mismatch`, never evidence."""
    if deletion is None:
        return {"signalwire_copy": "listed" if listed else "unknown", "deletion_evidence": ""}
    if not archived_sha256 or deletion.audio_sha256 != archived_sha256:
        named = deletion.audio_sha256[:64] or "none"
        held = archived_sha256 or "no archived audio"
        return {
            "signalwire_copy": "deletion_record_mismatch",
            "deletion_evidence": f"{deletion.uri} names audio sha256 {named}, the archive holds {held}: not evidence",
        }
    state = "listed_after_delete" if listed else "deleted"
    return {"signalwire_copy": state, "deletion_evidence": deletion.evidence()}
