"""What happened to one recording (`Outcome`), field by field as its audit line says it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from archiver.errors import ArchiveError, Corrupt
from archiver.manifest import StoredPair
from archiver.recordings import Api
from archiver.storage import StoredObject

# Outcomes after which SignalWire need not call again (queued: a Cloud Task will archive it).
OK_OUTCOMES = frozenset({"archived", "already_archived", "ignored", "no_audio", "queued", "already_queued"})


@dataclass(frozen=True)
class DeleteResult:
    """What deleting SignalWire's copy came to: deleted, or why not, and on what evidence."""

    deleted: bool
    # The size SignalWire would not announce: nothing proves the archive complete, so nothing is deleted.
    skipped: str | None = None
    error: str | None = None
    status: int | None = None
    # What the archive was checked against before the DELETE went out.
    evidence: dict[str, Any] | None = None
    # The deletion record's URI, once SignalWire's copy is gone.
    record: str | None = None
    # A record already there that names other bytes: kept (create-only), never this delete's proof.
    conflict: str | None = None
    # Why no deletion record was written although SignalWire's copy is gone: the audit line is then the only proof.
    record_error: str | None = None

    def fields(self) -> dict[str, Any]:
        named = {
            "evidence": self.evidence,
            "deleted": self.deleted,
            "delete_skipped": self.skipped,
            "delete_error": self.error,
            "delete_status": self.status,
            "deletion_record": self.record,
            "deletion_record_conflict": self.conflict,
            "deletion_record_error": self.record_error,
        }
        return {key: value for key, value in named.items() if value is not None}


@dataclass(frozen=True)
class Outcome:
    """What happened to one recording; every field that is set ends up in its audit line.

    `size_verified` is True only when the stored size equals a size SignalWire itself announced
    (`announced_bytes`); `error` is the detail for the audit line, `error_code` the short name a
    reply carries, and `retryable` says whether another attempt could end differently.
    """

    outcome: str
    recording_sid: str
    account_sid: str
    # Which SignalWire API the recording belongs to.
    api: str = Api.LAML
    call_sid: str | None = None
    recording_status: str | None = None
    audio_uri: str | None = None
    metadata_uri: str | None = None
    bytes: int | None = None
    announced_bytes: int | None = None
    size_verified: bool | None = None
    crc32c: str | None = None
    sha256: str | None = None
    generation: int | None = None
    retained_until: str | None = None
    requests: int = 0
    elapsed_ms: int = 0
    error: str | None = None
    error_code: str | None = None
    retryable: bool = True
    # The host that served the audio, the format its bytes showed, and the hints that named another.
    media_host: str | None = None
    audio_format: str | None = None
    format_hints_disagree: list[str] | None = None
    # What a look at an existing archive completed or repaired.
    size_verified_now: bool | None = None
    retention_completed: bool | None = None
    repaired: str | None = None
    repair_incomplete: str | None = None
    deletion: DeleteResult | None = None
    # Queued mode: the Cloud Task's ID.
    task_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in OK_OUTCOMES

    @property
    def deleted(self) -> bool | None:
        """Whether SignalWire's copy was deleted; None when no delete was tried."""
        return None if self.deletion is None else self.deletion.deleted

    def fields(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k != "deletion"}
        if self.ok:
            data.pop("retryable")
        if self.deletion is not None:
            data.update(self.deletion.fields())
        return data

    def failed(self, exc: BaseException) -> Outcome:
        """This outcome as a failure: `corrupt` when the archive disagrees with itself, `failed` otherwise."""
        word = "corrupt" if isinstance(exc, Corrupt) else "failed"
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ArchiveError):
            return replace(self, outcome=word, error=error, error_code=exc.code, retryable=exc.retryable)
        # The storage client's own errors (google.api_core, google.auth) are worth another try.
        code = "storage_error" if type(exc).__module__.startswith("google.") else "internal"
        return replace(self, outcome=word, error=error, error_code=code, retryable=True)


def figures(audio: StoredObject) -> dict[str, Any]:
    """A stored audio object as an outcome names it: where, its size, checksums and generation."""
    sha256 = audio.metadata.get("sha256")
    return {
        "audio_uri": audio.uri,
        "bytes": audio.size,
        "crc32c": audio.crc32c,
        "sha256": sha256,
        "generation": audio.generation,
    }


def archive_fields(pair: StoredPair) -> dict[str, Any]:
    """An agreeing archive as an outcome names it: its audio's figures, its manifest, what is proven and retained."""
    verified = pair.recorded.audio_size_verified
    return {
        **figures(pair.audio),
        "metadata_uri": pair.manifest.uri,
        "size_verified": verified,
        "retained_until": pair.retained_until(),
    }
