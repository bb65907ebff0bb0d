"""The one idempotent routine that archives a recording: metadata, audio, verification, manifest."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver import __version__
from archiver.audioformat import CONTENT_TYPES, FormatDecision, PeekedMedia, decide, extension_of
from archiver.config import Settings, is_sid
from archiver.errors import (
    AlreadyExists,
    ArchiveError,
    Corrupt,
    DeleteForbidden,
    IntegrityError,
    NotFinal,
    NotFound,
    NotThere,
    SignalWireError,
    TooLarge,
    TransientError,
)
from archiver.logging import get_logger
from archiver.misnamed import rename
from archiver.proof import record_deletion
from archiver.signalwire import (
    FINAL_WITH_AUDIO,
    KNOWN_STATUSES,
    NO_AUDIO,
    Budget,
    Recording,
    RecordingSource,
    RetryPolicy,
    parse_date,
)
from archiver.storage import Retention, Store, StoredObject, VerifyingReader

# How long a callback waits for a recording SignalWire still reports as not final.
FINAL_WAIT_S = 10.0
# A 404 for a recording nobody vouched for (only a CALLBACK_TOKEN named it): asked this many times, not the budget.
UNVOUCHED_404_TRIES = 2
# SignalWire's answers to DELETE that mean the recording is gone there (404: gone already).
DELETED_STATUSES = frozenset({200, 204, 404})
# Outcomes after which SignalWire need not call again (queued: a Cloud Task will archive it).
OK_OUTCOMES = frozenset({"archived", "already_archived", "ignored", "no_audio", "queued", "already_queued"})


@dataclass
class Outcome:
    """What happened to one recording; every field ends up in its audit line.

    `size_verified` is True only when the stored size equals a size SignalWire itself announced
    (`announced_bytes`); `error` is the detail for the audit line, `error_code` the short name a
    reply carries, and `retryable` says whether another attempt could end differently.
    """

    outcome: str
    recording_sid: str
    account_sid: str
    # Which SignalWire API the recording belongs to: "laml" or "relay".
    api: str = "laml"
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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in OK_OUTCOMES

    def fields(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        if self.ok:
            data.pop("retryable")
        data.update(self.extra)
        return data

    def fail(self, exc: BaseException) -> None:
        """Record a failure: `corrupt` when the archive disagrees with itself, `failed` otherwise."""
        self.outcome = "corrupt" if isinstance(exc, Corrupt) else "failed"
        self.error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ArchiveError):
            self.error_code, self.retryable = exc.code, exc.retryable
        else:
            # The storage client's own errors (google.api_core, google.auth) are worth another try.
            self.error_code = "storage_error" if type(exc).__module__.startswith("google.") else "internal"


def day_prefix(account_sid: str, created: datetime) -> str:
    """Where a day's recordings live: one listing of this prefix shows all of them."""
    return f"{account_sid}/{created:%Y/%m/%d}/"


def object_keys(account_sid: str, recording_sid: str, created: datetime, fmt: str) -> tuple[str, str]:
    """Deterministic names, so every retry lands on the same objects: audio key, metadata key."""
    base = day_prefix(account_sid, created) + recording_sid
    return f"{base}.{fmt}", f"{base}.json"


def audio_key_of(meta_key: str, fmt: str) -> str:
    """The audio object beside a manifest, under the extension its format gives."""
    return f"{meta_key.removesuffix('.json')}.{fmt}"


def call_sid_of(data: Mapping[str, Any]) -> str | None:
    """A recording's call SID, when it is one: a field of any size would break an audit line, not the call."""
    call_sid = str(data.get("call_sid") or "")
    return call_sid.lower() if is_sid(call_sid) else None


def check_agreement(audio: StoredObject, manifest: StoredObject) -> None:
    """The audio object is the one the manifest recorded: size, CRC32C and SHA-256."""
    recorded = manifest.metadata
    # The generation is recorded as evidence but not compared: a metadata patch may change it (it does on
    # fake-gcs-server), and bytes rewritten under a new generation change the CRC32C, which GCS computes.
    checks = {
        "size": (str(audio.size), recorded.get("audio-bytes")),
        "crc32c": (audio.crc32c, recorded.get("audio-crc32c")),
        "sha256": (audio.metadata.get("sha256"), recorded.get("audio-sha256")),
    }
    for name, (stored, expected) in checks.items():
        if not stored or stored != expected:
            raise Corrupt(f"{audio.uri}: stored {name} {stored!r}, recorded {expected!r}")


def retained_until(*objects: StoredObject) -> str | None:
    """When the first of these objects stops being retained; None when any of them is not retained."""
    ends = [obj.retained_until for obj in objects]
    return min(end for end in ends if end is not None).isoformat() if ends and None not in ends else None


# GCS allows 8 KiB of custom metadata per object; SignalWire's fields are short, a lying space's need not be.
_METADATA_VALUE_MAX = 512


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:_METADATA_VALUE_MAX]


class Archiver:
    """Archives recordings by SID into a store; safe to call any number of times, concurrently.

    `sources` holds one RecordingSource per SignalWire API, by name ("laml", "relay").
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sources: Mapping[str, RecordingSource],
        policy: RetryPolicy,
        final_wait_s: float = FINAL_WAIT_S,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sources = dict(sources)
        self.policy = policy
        self.final_wait_s = final_wait_s

    def keys(self, recording: Recording) -> tuple[str, str]:
        return self.keys_of(recording.sid, recording.data)

    def fetch_final(self, sid: str, budget: Budget, api: str = "laml", *, vouched: bool = True) -> Recording:
        """Metadata once the recording is final; waits `final_wait_s` at most for it to become final.

        A 404 is waited out for the whole budget when SignalWire vouched for the recording (a signed
        callback may arrive before the recording is ready); otherwise it is asked once more, then NotThere.
        """
        final_deadline = time.monotonic() + self.final_wait_s
        source = self.sources[api]
        warned: set[str] = set()
        missing = 0

        def fetch() -> Recording:
            nonlocal missing
            try:
                recording = source.recording(sid, budget)
            except NotFound as exc:
                missing += 1
                if not vouched and missing >= UNVOUCHED_404_TRIES:
                    raise NotThere(
                        f"{exc} ({missing} times); only a CALLBACK_TOKEN named it, so not waited for"
                    ) from None
                raise
            if recording.status not in KNOWN_STATUSES and recording.status not in warned:
                # Read as not final (nothing is archived on a guess), but never silently.
                warned.add(recording.status)
                get_logger().warning(
                    "SignalWire reports an unknown recording status",
                    status_word=recording.status[:32],
                    api=api,
                    recording_sid=sid,
                )
            if recording.status not in FINAL_WITH_AUDIO | NO_AUDIO:
                message = f"recording {sid} is {recording.status[:32] or 'without status'}, not final yet"
                if time.monotonic() >= final_deadline:
                    raise NotFinal(message)
                raise TransientError(message)
            return recording

        return self.policy.run(fetch, budget_s=budget.remaining())

    def archive(
        self,
        sid: str,
        listed: dict[str, Any] | None = None,
        *,
        api: str | None = None,
        delete: bool | None = None,
        repair: bool = False,
        format_hint: str | None = None,
        vouched: bool = True,
    ) -> Outcome:
        """Archive one recording; never raises for a recording-level failure, returns `failed` or `corrupt`.

        `listed` is the recording as a list page showed it: when its date names objects that are
        already complete, SignalWire is not asked anything. `api` names the SignalWire API the recording
        belongs to (default: the listing's, else "laml"). `delete` defaults to DELETE_AFTER_ARCHIVE.
        `repair` replaces an archive that disagrees with its manifest instead of only reporting it.
        `format_hint` is the format a callback named; the audio's own bytes decide, the hint is recorded.
        `vouched` is False for a recording only a CALLBACK_TOKEN named (see `fetch_final`).
        """
        started = time.monotonic()
        budget = Budget(started + self.settings.retry_budget_s)
        api = api or str((listed or {}).get("api") or "laml")
        outcome = Outcome("failed", recording_sid=sid, account_sid=self.settings.project_id, api=api)
        wants_delete = self.settings.delete_after_archive if delete is None else delete
        try:
            # Where the archive can be found without asking SignalWire: the listed date, or, when
            # recordings get deleted, the last two days (a duplicate callback after the delete would
            # otherwise meet a 404 until its budget ran out).
            candidates = [self.keys_of(sid, listed)] if listed is not None else []
            if wants_delete and not candidates:
                candidates = self._recent_keys(sid)
            keys = next((k for k in candidates if self._look(outcome, k, repair, budget)), None)
            if keys is not None:
                self._complete_retention(outcome, keys)
            if keys is None:
                recording = self.fetch_final(sid, budget, api, vouched=vouched)
                outcome.call_sid = call_sid_of(recording.data)
                outcome.recording_status = recording.status[:32]
                if recording.status in NO_AUDIO:
                    outcome.outcome = "no_audio"
                else:
                    keys = self.keys(recording)
                    # Looked at already when the listing or the recent dates named these same objects.
                    if keys in candidates or not self._look(outcome, keys, repair, budget):
                        self._archive_final(recording, keys, outcome, budget, format_hint)
                    else:
                        self._complete_retention(outcome, keys)
            if wants_delete and keys is not None and outcome.outcome in ("archived", "already_archived"):
                self._delete_verified(outcome, keys, budget)
        # SignalWire, integrity, bad dates, and the storage client's own errors alike: one recording's
        # failure is reported, never raised, so a sweep goes on and a callback answers 503.
        except Exception as exc:
            outcome.fail(exc)
        outcome.requests = budget.requests
        outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
        return outcome

    def keys_of(self, sid: str, listed: dict[str, Any]) -> tuple[str, str]:
        created = parse_date(listed.get("date_created"))
        fmt = str(listed.get("format") or self.settings.recording_format)
        return object_keys(self.settings.project_id, sid.lower(), created, fmt)

    def recorded_audio_key(self, keys: tuple[str, str], manifest: StoredObject) -> str:
        """The audio key a manifest names, when it is this recording's under another extension.

        A recording both APIs list (or a RELAY recording looked up before its format is known) is then
        found archived once, whichever API archived it, instead of looking half-archived.
        """
        recorded = manifest.metadata.get("audio-object")
        named = (audio_key_of(keys[1], fmt) for fmt in CONTENT_TYPES)
        return next((key for key in named if self.store.uri(key) == recorded), keys[0])

    def _recent_keys(self, sid: str) -> list[tuple[str, str]]:
        today = datetime.now(UTC)
        fmt = self.settings.recording_format
        return [object_keys(self.settings.project_id, sid.lower(), day, fmt) for day in (today, today - timedelta(1))]

    def check_archived(self, outcome: Outcome, keys: tuple[str, str]) -> bool:
        """True when both objects are there and agree; raises Corrupt when a manifest's audio disagrees."""
        outcome.audio_uri = self.store.uri(keys[0])
        outcome.metadata_uri = self.store.uri(keys[1])
        pair = self._stored_pair(keys, outcome)
        if pair is None:
            return False
        audio, manifest = pair
        self._describe(outcome, audio)
        check_agreement(audio, manifest)
        outcome.outcome = "already_archived"
        outcome.size_verified = manifest.metadata.get("audio-size-verified") == "true"
        outcome.retained_until = retained_until(audio, manifest)
        return True

    def retention(self) -> Retention | None:
        """The retention verified objects get (OBJECT_RETENTION_DAYS), or None when it is off."""
        days = self.settings.object_retention_days
        if not days:
            return None
        return Retention(self.settings.object_retention_mode, datetime.now(UTC) + timedelta(days=days))

    def _complete_retention(self, outcome: Outcome, keys: tuple[str, str]) -> None:
        """An archive verified before its retention was set (a crash, or retention switched on later): set it."""
        retention = self.retention()
        if retention is None or outcome.retained_until is not None or not outcome.size_verified:
            # An archive no announced size proves complete stays replaceable (backfill --repair).
            return
        audio, manifest = self.evidence(*keys)
        if audio.retained_until is None:
            # audio.key, not keys[0]: the manifest may name the audio under another extension.
            audio = self.store.set_metadata(audio.key, audio.generation, audio.metadata, retention)
        # A metadata patch may give the audio a new generation (fake-gcs-server does): the manifest follows it.
        recorded = {**manifest.metadata, "audio-generation": str(audio.generation)}
        manifest = self.store.set_metadata(manifest.key, manifest.generation, recorded, retention)
        outcome.generation = audio.generation
        outcome.retained_until = retention.until.isoformat()
        outcome.extra["retention_completed"] = True

    def _look(self, outcome: Outcome, keys: tuple[str, str], repair: bool, budget: Budget) -> bool:
        """check_archived; in repair mode a disagreeing audio object is removed for a rewrite, one named against its
        bytes is copied to the right name, and one SignalWire announced no size for is checked against the size it
        announces now."""
        try:
            found = self.check_archived(outcome, keys)
            if found and repair:
                rename(self, outcome, keys)
                if not outcome.size_verified:
                    self._confirm_size(outcome, keys, budget)
            return found
        except Corrupt as exc:
            if not repair:
                raise
            manifest = self.store.stat(keys[1])
            audio_key = keys[0] if manifest is None else self.recorded_audio_key(keys, manifest)
            audio = self.store.stat(audio_key)
            if audio is not None:
                try:
                    self.store.delete(audio_key, audio.generation)
                except DeleteForbidden as forbidden:
                    raise Corrupt(f"{exc}; cannot repair: {forbidden}") from forbidden
            outcome.extra["repaired"] = str(exc)
            return False

    def _confirm_size(self, outcome: Outcome, keys: tuple[str, str], budget: Budget) -> None:
        """Ask SignalWire the size once more: equal marks the archive verified, different makes it Corrupt."""
        announced = self.sources[outcome.api].media_size(outcome.recording_sid, budget)
        if announced is None:
            return
        audio, manifest = self.evidence(*keys)
        if announced != audio.size:
            raise Corrupt(f"{audio.uri}: stored {audio.size} bytes, SignalWire announces {announced}")
        recorded = {**manifest.metadata, "audio-size-verified": "true"}
        self.store.set_metadata(manifest.key, manifest.generation, recorded)
        outcome.size_verified = True
        outcome.announced_bytes = announced
        outcome.extra["size_verified_now"] = True

    def _archive_final(
        self, recording: Recording, keys: tuple[str, str], outcome: Outcome, budget: Budget, hint: str | None
    ) -> None:
        meta_key = keys[1]
        outcome.metadata_uri = self.store.uri(meta_key)
        audio, sha256, announced, decision = self.policy.run(
            lambda: self._archive_audio(recording, meta_key, budget, hint, outcome), budget_s=budget.remaining()
        )
        outcome.audio_uri = audio.uri
        self._describe(outcome, audio)
        outcome.sha256 = sha256
        outcome.announced_bytes = announced
        outcome.size_verified = announced is not None
        outcome.extra["audio_format"] = decision.fmt
        if decision.disagreeing():
            outcome.extra["format_hints_disagree"] = decision.disagreeing()
        manifest = self._write_manifest(recording, meta_key, audio, outcome.size_verified, decision)
        outcome.retained_until = retained_until(audio, manifest)
        outcome.outcome = "archived"

    def _stored_pair(
        self, keys: tuple[str, str], outcome: Outcome | None = None
    ) -> tuple[StoredObject, StoredObject] | None:
        """The audio the manifest names and the manifest, read now: None without a manifest, Corrupt
        without its audio. `outcome`, when given, is told the audio's URI as soon as it is known."""
        manifest = self.store.stat(keys[1])
        if manifest is None:
            return None
        audio_key = self.recorded_audio_key(keys, manifest)
        if outcome is not None:
            outcome.audio_uri = self.store.uri(audio_key)
        audio = self.store.stat(audio_key)
        if audio is None:
            raise Corrupt(f"{self.store.uri(audio_key)} is missing, though its manifest records it as archived")
        return audio, manifest

    def evidence(self, audio_key: str, meta_key: str) -> tuple[StoredObject, StoredObject]:
        """Both objects, read now, agreeing with each other; Corrupt naming the first disagreement."""
        pair = self._stored_pair((audio_key, meta_key))
        if pair is None:
            raise Corrupt(f"{self.store.uri(meta_key)} is missing")
        check_agreement(*pair)
        return pair

    def _delete_verified(self, outcome: Outcome, keys: tuple[str, str], budget: Budget) -> None:
        """Delete at SignalWire only when the archive is proven complete by SignalWire's own word on its size.

        Both objects must agree, the audio must hold what this call streamed (when it streamed), and
        its size must equal a size SignalWire announced: the Content-Length of this call's download, or
        a fresh HEAD. A body without a length ends when the connection does, so a cut-off download
        would otherwise prove itself complete.
        """
        audio, manifest = self.evidence(*keys)
        if outcome.bytes != audio.size or outcome.crc32c != audio.crc32c:
            raise Corrupt(f"{audio.uri}: stored bytes differ from what was streamed")
        source = self.sources[outcome.api]
        announced_by = "archive" if outcome.announced_bytes is not None else source.size_from
        announced = outcome.announced_bytes
        if announced is None:
            announced = source.media_size(outcome.recording_sid, budget)
        if announced is None:
            outcome.extra.update(deleted=False, delete_skipped="SignalWire announced no size for the audio")
            return
        if announced != audio.size:
            raise Corrupt(f"{audio.uri}: stored {audio.size} bytes, SignalWire announces {announced}")
        outcome.extra["evidence"] = {
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
            status = self.policy.run(
                lambda: source.delete_recording(outcome.recording_sid, budget), budget_s=budget.remaining()
            )
        except SignalWireError as exc:
            outcome.extra.update(deleted=False, delete_error=str(exc))
            return
        outcome.extra.update(deleted=status in DELETED_STATUSES, delete_status=status)
        if status in DELETED_STATUSES:
            # Without it the archive could prove its bytes but not that SignalWire's copy is gone, nor when.
            record = record_deletion(self.store, manifest.key, outcome, status, self.retention())
            outcome.extra["deletion_record"] = record.uri

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
            "api": recording.api,
            "call-sid": _text(data.get("call_sid")),
            "conference-sid": _text(data.get("conference_sid")),
            "duration-seconds": _text(data.get("duration")),
            "channels": _text(data.get("channels")),
            "source": _text(data.get("source")),
            "date-created": _text(data.get("date_created")),
            "archiver-version": __version__,
        }

    def _archive_audio(
        self, recording: Recording, meta_key: str, budget: Budget, hint: str | None, outcome: Outcome
    ) -> tuple[StoredObject, str, int | None, FormatDecision]:
        """One attempt: stream SignalWire's audio into a create-only object named as its bytes say, and verify it.

        The first block is read before the upload opens, so the object's name and Content-Type follow the
        bytes (create-only names cannot be changed later); a body that is not audio is never stored.
        Returns the stored object, its SHA-256, the size SignalWire announced (None if it would not say),
        and how the format was decided; `outcome` is told which host served the audio.
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
            outcome.extra["media_host"] = media.host
            peeked = PeekedMedia(media)
            hints = {"event": hint, "url": extension_of(media.url), "content-type": media.content_type}
            decision = decide(peeked.head, hints, f"recording {recording.sid} audio from {media.host}")
            key = audio_key_of(meta_key, decision.fmt)
            reader = VerifyingReader(peeked, announced, limit)
            try:
                stored = self.store.put(key, reader, decision.content_type, self._audio_metadata(recording))
            except AlreadyExists:
                stored = self._adopt_existing(key, reader)
            except IntegrityError as exc:
                raise TransientError(str(exc)) from exc
        # Retention freezes an archive: only one whose size SignalWire announced is proven complete.
        retention = self.retention() if announced is not None else None
        if stored.metadata.get("sha256") != reader.sha256 or (retention and stored.retained_until is None):
            # GCS fixes custom metadata when an upload starts; the digest exists only after the last byte,
            # and retention comes with it, so bytes that failed verification were never retained.
            wanted = {**self._audio_metadata(recording), "sha256": reader.sha256}
            stored = self.store.set_metadata(key, stored.generation, {**stored.metadata, **wanted}, retention)
        return stored, reader.sha256, announced, decision

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

    def _write_manifest(
        self, recording: Recording, key: str, audio: StoredObject, size_verified: bool, decision: FormatDecision
    ) -> StoredObject:
        """The metadata object goes last: its presence means the recording is completely archived."""
        metadata = {
            **decision.manifest(),
            "recording-sid": recording.sid.lower(),
            "audio-object": audio.uri,
            "audio-generation": str(audio.generation),
            "audio-bytes": str(audio.size),
            "audio-size-verified": "true" if size_verified else "false",
            "audio-crc32c": audio.crc32c,
            "audio-sha256": audio.metadata.get("sha256", ""),
            "archiver-version": __version__,
        }
        retention = self.retention() if size_verified else None
        try:
            written = self.store.put(key, VerifyingReader.of_bytes(recording.raw), "application/json", metadata)
        except AlreadyExists:
            existing = self.store.stat(key)
            if existing is None:
                raise TransientError(f"{self.store.uri(key)} vanished after a create conflict") from None
            if any(existing.metadata.get(k) != v for k, v in metadata.items() if k.startswith("audio-")):
                # The audio was written again (a repair, or a race): the JSON stays as first stored, its
                # description of the audio follows the object now verified.
                return self.store.set_metadata(key, existing.generation, {**existing.metadata, **metadata}, retention)
            written = existing
        if retention is not None and written.retained_until is None:
            return self.store.set_metadata(key, written.generation, written.metadata, retention)
        return written
