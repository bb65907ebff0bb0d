"""Deleting SignalWire's copy: prove the archive's size by SignalWire's own word, then delete, and record it."""

from __future__ import annotations

from archiver.errors import Corrupt, SignalWireError
from archiver.layout import ArchiveKeys
from archiver.manifest import AUDIO_SIZE_VERIFIED, StoredPair, read_agreeing
from archiver.outcome import DeleteResult, Outcome
from archiver.proof import record_deletion
from archiver.signalwire import Budget, RecordingSource, RetryPolicy
from archiver.storage import Retention, Store

# SignalWire's answers to DELETE that mean the recording is gone there (404: gone already).
DELETED_STATUSES = frozenset({200, 204, 404})


def confirm_size(store: Store, source: RecordingSource, sid: str, keys: ArchiveKeys, budget: Budget) -> int | None:
    """Ask SignalWire the size once more: equal marks the archive verified and is returned, different is Corrupt.

    None when SignalWire still announces no size: the archive stays unverified.
    """
    audio, manifest = read_agreeing(store, keys)
    announced = source.media_size(sid, budget, StoredPair(audio, manifest).fmt)
    if announced is None:
        return None
    if announced != audio.size:
        raise Corrupt(f"{audio.uri}: stored {audio.size} bytes, SignalWire announces {announced}")
    store.set_metadata(manifest.key, manifest.generation, {**manifest.metadata, AUDIO_SIZE_VERIFIED: "true"})
    return announced


def delete_verified(
    store: Store,
    source: RecordingSource,
    policy: RetryPolicy,
    outcome: Outcome,
    keys: ArchiveKeys,
    budget: Budget,
    retention: Retention | None,
) -> DeleteResult:
    """Delete at SignalWire only when the archive is proven complete by SignalWire's own word on its size.

    Both objects must agree, the audio must hold what `outcome` says was stored (streamed, when this
    call streamed), and its size must equal a size SignalWire announced: the Content-Length of this
    call's download, or a fresh HEAD. A body without a length ends when the connection does, so a
    cut-off download would otherwise prove itself complete. A copy gone leaves a deletion record,
    retained with `retention`.
    """
    audio, manifest = read_agreeing(store, keys)
    if outcome.bytes != audio.size or outcome.crc32c != audio.crc32c:
        raise Corrupt(f"{audio.uri}: stored bytes differ from what was streamed")
    announced_by = "archive" if outcome.announced_bytes is not None else source.size_from
    announced = outcome.announced_bytes
    if announced is None:
        announced = source.media_size(outcome.recording_sid, budget, StoredPair(audio, manifest).fmt)
    if announced is None:
        return DeleteResult(deleted=False, skipped="SignalWire announced no size for the audio")
    if announced != audio.size:
        raise Corrupt(f"{audio.uri}: stored {audio.size} bytes, SignalWire announces {announced}")
    evidence = {
        "audio_uri": audio.uri,
        "audio_generation": audio.generation,
        "audio_bytes": audio.size,
        "announced_bytes": announced,
        "announced_by": announced_by,
        "audio_crc32c": audio.crc32c,
        "audio_sha256": audio.metadata.get("sha256"),
        "metadata_uri": manifest.uri,
        "metadata_generation": manifest.generation,
    }
    try:
        status = policy.run(lambda: source.delete_recording(outcome.recording_sid, budget), budget_s=budget.remaining())
    except SignalWireError as exc:
        return DeleteResult(deleted=False, error=str(exc), evidence=evidence)
    if status not in DELETED_STATUSES:
        return DeleteResult(deleted=False, status=status, evidence=evidence)
    # Without it the archive could prove its bytes but not that SignalWire's copy is gone, nor when.
    try:
        record, conflict = record_deletion(store, manifest.key, outcome, evidence, status, retention)
    # Any failure alike: SignalWire's copy is gone whatever the store answers, and the audit line must say so.
    except Exception as exc:
        return DeleteResult(deleted=True, status=status, evidence=evidence, record_error=f"{type(exc).__name__}: {exc}")
    return DeleteResult(deleted=True, status=status, evidence=evidence, record=record.uri, conflict=conflict)
