"""Writing a recording's archive: its audio streamed into a create-only object, verified, then its manifest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from archiver import __version__
from archiver.audioformat import FormatDecision, PeekedMedia, decide, extension_of
from archiver.config import Settings
from archiver.errors import IntegrityError, TooLarge, TransientError
from archiver.layout import ArchiveKeys, audio_key_of
from archiver.manifest import ARCHIVER_VERSION, AUDIO_PREFIX, RECORDING_SID, Manifest
from archiver.recordings import Recording
from archiver.retention import retain, retention_for
from archiver.signalwire import Budget, RecordingSource, RetryPolicy
from archiver.storage import Store, StoredObject, VerifyingReader, put_or_existing

# GCS allows 8 KiB of custom metadata per object; SignalWire's fields are short, a lying space's need not be.
_METADATA_VALUE_MAX = 512


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:_METADATA_VALUE_MAX]


@dataclass(frozen=True)
class Written:
    """A recording just archived: both objects, the audio's SHA-256, the size SignalWire announced
    (None if it would not say), and how the format was decided."""

    audio: StoredObject
    manifest: StoredObject
    sha256: str
    announced: int | None
    decision: FormatDecision


class Writer:
    """Writes audio and manifest; every write is create-only, so attempts in any number and order agree."""

    def __init__(
        self, settings: Settings, store: Store, sources: Mapping[str, RecordingSource], policy: RetryPolicy
    ) -> None:
        self.settings = settings
        self.store = store
        self.sources = sources
        self.policy = policy

    def write(
        self,
        recording: Recording,
        keys: ArchiveKeys,
        budget: Budget,
        hint: str | None,
        seen_host: Callable[[str], None],
    ) -> Written:
        """Audio (retried within the budget), then the manifest; `seen_host` is told which host served the audio."""
        audio, sha256, announced, decision = self.policy.run(
            lambda: self._audio(recording, keys.manifest, budget, hint, seen_host), budget_s=budget.remaining()
        )
        manifest = self.write_manifest(recording, keys.manifest, audio, announced is not None, decision)
        return Written(audio, manifest, sha256, announced, decision)

    def audio_metadata(self, recording: Recording) -> dict[str, str]:
        data = recording.data
        return {
            RECORDING_SID: recording.sid.lower(),
            "account-sid": self.settings.project_id,
            "api": recording.api,
            "call-sid": _text(data.get("call_sid")),
            "conference-sid": _text(data.get("conference_sid")),
            "duration-seconds": _text(data.get("duration")),
            "channels": _text(data.get("channels")),
            "source": _text(data.get("source")),
            "date-created": _text(data.get("date_created")),
            ARCHIVER_VERSION: __version__,
        }

    def _audio(
        self, recording: Recording, meta_key: str, budget: Budget, hint: str | None, seen_host: Callable[[str], None]
    ) -> tuple[StoredObject, str, int | None, FormatDecision]:
        """One attempt: stream SignalWire's audio into a create-only object named as its bytes say, and verify it.

        The first block is read before the upload opens, so the object's name and Content-Type follow the
        bytes (create-only names cannot be changed later); a body that is not audio is never stored.
        """
        limit = self.settings.max_recording_bytes
        source = self.sources[recording.api]
        with source.open_media(recording, budget) as media:
            # The metadata's own size (RELAY's byte_size) first: a body must match it or be retried.
            announced = recording.announced_bytes
            if announced is None:
                announced = media.content_length
            if announced is None:
                # A body without a length cannot show it was cut off; a HEAD may still say how long it is.
                announced = source.media_size(recording.sid, budget)
                if announced is not None and announced > limit:
                    raise TooLarge(f"recording {recording.sid} audio: {announced} bytes, over MAX_RECORDING_MB")
            seen_host(media.host)
            peeked = PeekedMedia(media)
            hints = {"event": hint, "url": extension_of(media.url), "content-type": media.content_type}
            decision = decide(peeked.head, hints, f"recording {recording.sid} audio from {media.host}")
            key = audio_key_of(meta_key, decision.fmt)
            reader = VerifyingReader(peeked, announced, limit)
            metadata = self.audio_metadata(recording)
            try:
                stored, created = put_or_existing(self.store, key, reader, decision.content_type, metadata)
                if not created:
                    self._adopt_existing(stored, reader, meta_key)
            except IntegrityError as exc:
                raise TransientError(str(exc)) from exc
        # Retention freezes an archive: only one whose size SignalWire announced is proven complete.
        retention = retention_for(self.settings) if announced is not None else None
        if stored.metadata.get("sha256") != reader.sha256 or (retention and stored.retained_until is None):
            # GCS fixes custom metadata when an upload starts; the digest exists only after the last byte,
            # and retention comes with it, so bytes that failed verification were never retained.
            wanted = {**metadata, "sha256": reader.sha256}
            stored = self.store.set_metadata(key, stored.generation, {**stored.metadata, **wanted}, retention)
        return stored, reader.sha256, announced, decision

    def _adopt_existing(self, existing: StoredObject, reader: VerifyingReader, meta_key: str) -> None:
        """Another attempt created the object first: keep it if it holds exactly these bytes; otherwise remove it
        only when it cannot be a complete archive's audio, and retry."""
        reader.drain()
        if existing.size == reader.size and existing.crc32c == reader.crc32c:
            return
        # An object whose writer verified it (its SHA-256 is set) may be a finished archive whose SignalWire copy is
        # already deleted: only bytes SignalWire vouched for by length outweigh it, and never once a manifest exists.
        if existing.metadata.get("sha256") and (reader.expected_size is None or self.store.stat(meta_key) is not None):
            raise TransientError(f"{existing.uri} holds other bytes than this attempt streamed; kept, as verified")
        self.store.delete(existing.key, existing.generation)
        raise TransientError(f"{existing.uri} held other bytes than SignalWire serves; removed for a retry")

    def write_manifest(
        self, recording: Recording, key: str, audio: StoredObject, size_verified: bool, decision: FormatDecision
    ) -> StoredObject:
        """The metadata object goes last: its presence means the recording is completely archived."""
        metadata = Manifest.of(recording.sid.lower(), audio, size_verified, decision).to_metadata()
        retention = retention_for(self.settings) if size_verified else None
        reader = VerifyingReader.of_bytes(recording.raw)
        written, created = put_or_existing(self.store, key, reader, "application/json", metadata)
        if not created and any(written.metadata.get(k) != v for k, v in metadata.items() if k.startswith(AUDIO_PREFIX)):
            # The audio was written again (a repair, or a race): the JSON stays as first stored, its
            # description of the audio follows the object now verified.
            return self.store.set_metadata(key, written.generation, {**written.metadata, **metadata}, retention)
        return retain(self.store, written, retention)
