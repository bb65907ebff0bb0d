"""The one idempotent routine that archives a recording: metadata, audio, verification, manifest."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver import __version__
from archiver.config import Settings
from archiver.signalwire import (
    FINAL_WITH_AUDIO,
    NO_AUDIO,
    Attempts,
    Recording,
    RetryPolicy,
    SignalWireClient,
    SignalWireError,
    TransientError,
    parse_date,
)
from archiver.storage import AlreadyExists, IntegrityError, Store, StoredObject, VerifyingReader

# How long a callback waits for a recording SignalWire still reports as not final.
FINAL_WAIT_S = 10.0
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}
# Outcomes after which SignalWire need not call again (queued: a Cloud Task will archive it).
OK_OUTCOMES = frozenset({"archived", "already_archived", "ignored", "no_audio", "queued", "already_queued"})


class NotFinalError(SignalWireError):
    """Still not final after the wait: not worth waiting for now, worth a later try."""


@dataclass
class Outcome:
    """What happened to one recording; every field ends up in its audit line."""

    outcome: str
    recording_sid: str
    account_sid: str
    call_sid: str | None = None
    recording_status: str | None = None
    audio_uri: str | None = None
    metadata_uri: str | None = None
    bytes: int | None = None
    crc32c: str | None = None
    sha256: str | None = None
    generation: int | None = None
    attempts: int = 0
    elapsed_ms: int = 0
    error: str | None = None
    # False when trying the same recording again cannot help (SignalWire refused it for good).
    retryable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in OK_OUTCOMES

    def fields(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k not in ("extra", "retryable")}
        if not self.ok:
            data["retryable"] = self.retryable
        data.update(self.extra)
        return data


def object_keys(account_sid: str, recording_sid: str, created: datetime, fmt: str) -> tuple[str, str]:
    """Deterministic names, so every retry lands on the same objects: audio key, metadata key."""
    base = f"{account_sid}/{created:%Y/%m/%d}/{recording_sid}"
    return f"{base}.{fmt}", f"{base}.json"


def check_agreement(audio: StoredObject, manifest: StoredObject) -> None:
    """The audio object is the one the manifest recorded: size, CRC32C, SHA-256 and generation."""
    recorded = manifest.metadata
    checks = {
        "size": (str(audio.size), recorded.get("audio-bytes")),
        "crc32c": (audio.crc32c, recorded.get("audio-crc32c")),
        "sha256": (audio.metadata.get("sha256"), recorded.get("audio-sha256")),
        "generation": (str(audio.generation), recorded.get("audio-generation")),
    }
    for name, (stored, expected) in checks.items():
        if not stored or stored != expected:
            raise IntegrityError(f"{audio.uri}: stored {name} {stored!r}, recorded {expected!r}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class Archiver:
    """Archives recordings by SID into a store; safe to call any number of times, concurrently."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: SignalWireClient,
        policy: RetryPolicy,
        final_wait_s: float = FINAL_WAIT_S,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.policy = policy
        self.final_wait_s = final_wait_s

    def keys(self, recording: Recording) -> tuple[str, str]:
        return self.keys_of(recording.sid, recording.data)

    def fetch_final(self, sid: str, attempts: Attempts, deadline: float) -> Recording:
        """Metadata once the recording is final; waits `final_wait_s` at most for it to become final."""
        final_deadline = time.monotonic() + self.final_wait_s

        def fetch() -> Recording:
            recording = self.client.recording(sid, attempts)
            if recording.status not in FINAL_WITH_AUDIO | NO_AUDIO:
                message = f"recording {sid} is {recording.status or 'without status'}, not final yet"
                if time.monotonic() >= final_deadline:
                    raise NotFinalError(message)
                raise TransientError(message)
            return recording

        return self.policy.run(fetch, budget_s=max(0.0, deadline - time.monotonic()))

    def archive(self, sid: str, listed: dict[str, Any] | None = None, *, delete: bool | None = None) -> Outcome:
        """Archive one recording; never raises for a recording-level failure, returns `failed`.

        `listed` is the recording as a list page showed it: when its date names objects that are
        already complete, SignalWire is not asked anything. `delete` defaults to DELETE_AFTER_ARCHIVE.
        """
        started = time.monotonic()
        deadline = started + self.settings.retry_budget_s
        attempts = Attempts()
        outcome = Outcome("failed", recording_sid=sid, account_sid=self.settings.project_id)
        wants_delete = self.settings.delete_after_archive if delete is None else delete
        try:
            # Where the archive can be found without asking SignalWire: the listed date, or, when
            # recordings get deleted, the last two days (a duplicate callback after the delete would
            # otherwise meet a 404 until its budget ran out).
            candidates = [self.keys_of(sid, listed)] if listed is not None else []
            if wants_delete and not candidates:
                candidates = self._recent_keys(sid)
            keys = next((k for k in candidates if self.check_archived(outcome, k)), None)
            if keys is None:
                recording = self.fetch_final(sid, attempts, deadline)
                outcome.call_sid = recording.data.get("call_sid") or None
                outcome.recording_status = recording.status
                if recording.status in NO_AUDIO:
                    outcome.outcome = "no_audio"
                else:
                    keys = self.keys(recording)
                    # Looked at already when the listing or the recent dates named these same objects.
                    if keys in candidates or not self.check_archived(outcome, keys):
                        self._archive_final(recording, keys, outcome, attempts, deadline)
            if wants_delete and keys is not None and outcome.outcome in ("archived", "already_archived"):
                self._delete_verified(outcome, keys, attempts, deadline)
        # SignalWire, integrity, bad dates, and the storage client's own errors alike: one recording's
        # failure is reported, never raised, so a sweep goes on and a callback answers 503.
        except Exception as exc:
            outcome.outcome = "failed"
            outcome.error = f"{type(exc).__name__}: {exc}"
            permanent = isinstance(exc, SignalWireError) and not isinstance(exc, TransientError | NotFinalError)
            outcome.retryable = not permanent
        outcome.attempts = attempts.count
        outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
        return outcome

    def keys_of(self, sid: str, listed: dict[str, Any]) -> tuple[str, str]:
        created = parse_date(listed.get("date_created"))
        return object_keys(self.settings.project_id, sid.lower(), created, self.settings.recording_format)

    def _recent_keys(self, sid: str) -> list[tuple[str, str]]:
        today = datetime.now(UTC)
        fmt = self.settings.recording_format
        return [object_keys(self.settings.project_id, sid.lower(), day, fmt) for day in (today, today - timedelta(1))]

    def check_archived(self, outcome: Outcome, keys: tuple[str, str]) -> bool:
        audio_key, meta_key = keys
        outcome.audio_uri = self.store.uri(audio_key)
        outcome.metadata_uri = self.store.uri(meta_key)
        if self.store.stat(meta_key) is None:
            return False
        audio = self.store.stat(audio_key)
        if audio is None or not audio.metadata.get("sha256"):
            return False
        outcome.outcome = "already_archived"
        self._describe(outcome, audio)
        return True

    def _archive_final(
        self, recording: Recording, keys: tuple[str, str], outcome: Outcome, attempts: Attempts, deadline: float
    ) -> None:
        audio_key, meta_key = keys
        outcome.audio_uri = self.store.uri(audio_key)
        outcome.metadata_uri = self.store.uri(meta_key)
        audio, sha256 = self.policy.run(
            lambda: self._archive_audio(recording, audio_key, attempts),
            budget_s=max(0.0, deadline - time.monotonic()),
        )
        self._describe(outcome, audio)
        outcome.sha256 = sha256
        self._write_manifest(recording, meta_key, audio)
        outcome.outcome = "archived"

    def evidence(self, audio_key: str, meta_key: str) -> tuple[StoredObject, StoredObject]:
        """Both objects, read now, agreeing with each other; IntegrityError naming the first disagreement."""
        manifest = self.store.stat(meta_key)
        if manifest is None:
            raise IntegrityError(f"{self.store.uri(meta_key)} is missing")
        audio = self.store.stat(audio_key)
        if audio is None:
            raise IntegrityError(f"{self.store.uri(audio_key)} is missing")
        check_agreement(audio, manifest)
        return audio, manifest

    def _delete_verified(self, outcome: Outcome, keys: tuple[str, str], attempts: Attempts, deadline: float) -> None:
        """Delete at SignalWire only when the archive is proven complete; record the evidence either way."""
        try:
            audio, manifest = self.evidence(*keys)
            if outcome.bytes != audio.size or outcome.crc32c != audio.crc32c:
                raise IntegrityError(f"{audio.uri}: stored bytes differ from what was streamed")
        except IntegrityError as exc:
            outcome.extra.update(deleted=False, delete_skipped=str(exc))
            return
        outcome.extra.update(
            evidence={
                "audio_uri": audio.uri,
                "audio_generation": audio.generation,
                "audio_bytes": audio.size,
                "audio_crc32c": audio.crc32c,
                "audio_sha256": audio.metadata.get("sha256"),
                "metadata_uri": manifest.uri,
                "metadata_generation": manifest.generation,
            }
        )
        try:
            self.policy.run(
                lambda: self.client.delete_recording(outcome.recording_sid, attempts),
                budget_s=max(0.0, deadline - time.monotonic()),
            )
        except SignalWireError as exc:
            outcome.extra.update(deleted=False, delete_error=str(exc))
            return
        outcome.extra["deleted"] = True

    @staticmethod
    def _describe(outcome: Outcome, audio: StoredObject) -> None:
        outcome.bytes = audio.size
        outcome.crc32c = audio.crc32c
        outcome.sha256 = audio.metadata.get("sha256")
        outcome.generation = audio.generation

    def _audio_metadata(self, recording: Recording) -> dict[str, str]:
        data = recording.data
        return {
            "recording-sid": recording.sid.lower(),
            "account-sid": self.settings.project_id,
            "call-sid": _text(data.get("call_sid")),
            "conference-sid": _text(data.get("conference_sid")),
            "duration-seconds": _text(data.get("duration")),
            "channels": _text(data.get("channels")),
            "source": _text(data.get("source")),
            "date-created": _text(data.get("date_created")),
            "archiver-version": __version__,
        }

    def _archive_audio(self, recording: Recording, key: str, attempts: Attempts) -> tuple[StoredObject, str]:
        """One attempt: stream SignalWire's audio into a create-only object and verify it."""
        fmt = self.settings.recording_format
        with self.client.open_media(recording.sid, attempts) as media:
            reader = VerifyingReader(media, media.content_length)
            try:
                stored = self.store.put(key, reader, CONTENT_TYPES[fmt], self._audio_metadata(recording))
            except AlreadyExists:
                stored = self._adopt_existing(key, reader)
            except IntegrityError as exc:
                raise TransientError(str(exc)) from exc
        if stored.metadata.get("sha256") != reader.sha256:
            # GCS fixes custom metadata when an upload starts; the digest exists only after the last byte.
            wanted = {**self._audio_metadata(recording), "sha256": reader.sha256}
            stored = self.store.set_metadata(key, stored.generation, {**stored.metadata, **wanted})
        return stored, reader.sha256

    def _adopt_existing(self, key: str, reader: VerifyingReader) -> StoredObject:
        """Another attempt created the object first: keep it only if it holds exactly these bytes."""
        try:
            reader.drain()
        except IntegrityError as exc:
            raise TransientError(str(exc)) from exc
        existing = self.store.stat(key)
        if existing is None:
            raise TransientError(f"{self.store.uri(key)} vanished after a create conflict")
        if existing.size != reader.size or existing.crc32c != reader.crc32c:
            # Only an attempt that died before verifying can leave wrong bytes; remove them and retry.
            self.store.delete(key, existing.generation)
            raise TransientError(f"{existing.uri} held other bytes than SignalWire serves; removed for a retry")
        return existing

    def _write_manifest(self, recording: Recording, key: str, audio: StoredObject) -> StoredObject:
        """The metadata object goes last: its presence means the recording is completely archived."""
        metadata = {
            "recording-sid": recording.sid.lower(),
            "audio-object": audio.uri,
            "audio-generation": str(audio.generation),
            "audio-bytes": str(audio.size),
            "audio-crc32c": audio.crc32c,
            "audio-sha256": audio.metadata.get("sha256", ""),
            "archiver-version": __version__,
        }
        try:
            return self.store.put(key, VerifyingReader.of_bytes(recording.raw), "application/json", metadata)
        except AlreadyExists:
            existing = self.store.stat(key)
            if existing is None:
                raise TransientError(f"{self.store.uri(key)} vanished after a create conflict") from None
            if any(existing.metadata.get(k) != v for k, v in metadata.items() if k.startswith("audio-")):
                # The audio was written again (an earlier object was wrong): the JSON stays as first
                # stored, its description of the audio follows the object now verified.
                return self.store.set_metadata(key, existing.generation, {**existing.metadata, **metadata})
            return existing
