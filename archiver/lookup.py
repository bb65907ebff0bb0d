"""Finding a recording's existing archive: where it may be, whether it agrees, and what a repair fixes there."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver.config import Settings
from archiver.deletion import confirm_size
from archiver.errors import Corrupt, DeleteForbidden
from archiver.layout import ArchiveKeys, keys_for
from archiver.manifest import AudioMissing, read_pair, recorded_audio_key
from archiver.misnamed import rename
from archiver.outcome import Outcome
from archiver.recordings import parse_date
from archiver.retention import complete_retention, retention_for
from archiver.signalwire import Budget, RecordingSource
from archiver.storage import Store


class Lookup:
    """Looks for archives in a store; each look tells an `Outcome` what it found."""

    def __init__(self, settings: Settings, store: Store, sources: Mapping[str, RecordingSource]) -> None:
        self.settings = settings
        self.store = store
        self.sources = sources

    def keys_of(self, sid: str, listed: Mapping[str, Any]) -> ArchiveKeys:
        """The keys a listing's (or SignalWire's) date and format give; the configured format without one."""
        created = parse_date(listed.get("date_created"))
        fmt = str(listed.get("format") or self.settings.recording_format)
        return keys_for(self.settings.project_id, sid.lower(), created, fmt)

    def candidates(self, sid: str, listed: Mapping[str, Any] | None, wants_delete: bool) -> list[ArchiveKeys]:
        """Where the archive can be found without asking SignalWire: the listed date, or, when recordings get
        deleted, the last two days (a duplicate callback after the delete would otherwise meet a 404 until its
        budget ran out)."""
        if listed is not None:
            return [self.keys_of(sid, listed)]
        if not wants_delete:
            return []
        today = datetime.now(UTC)
        fmt = self.settings.recording_format
        return [keys_for(self.settings.project_id, sid.lower(), day, fmt) for day in (today, today - timedelta(1))]

    def check_archived(self, outcome: Outcome, keys: ArchiveKeys) -> bool:
        """True when both objects are there and agree; raises Corrupt when a manifest's audio disagrees."""
        outcome.audio_uri = self.store.uri(keys.audio)
        outcome.metadata_uri = self.store.uri(keys.manifest)
        try:
            pair = read_pair(self.store, keys)
        except AudioMissing as exc:
            outcome.audio_uri = exc.uri
            raise
        if pair is None:
            return False
        outcome.audio_uri = pair.audio.uri
        outcome.describe(pair.audio)
        pair.check()
        outcome.outcome = "already_archived"
        outcome.size_verified = pair.recorded.audio_size_verified
        outcome.retained_until = pair.retained_until()
        return True

    def look(self, outcome: Outcome, keys: ArchiveKeys, repair: bool, budget: Budget) -> bool:
        """check_archived; in repair mode a disagreeing audio object is removed for a rewrite, one named against its
        bytes is copied to the right name, and one SignalWire announced no size for is checked against the size it
        announces now."""
        try:
            found = self.check_archived(outcome, keys)
            if found and repair:
                self._repair(outcome, keys, budget)
            return found
        except Corrupt as exc:
            if not repair:
                raise
            manifest = self.store.stat(keys.manifest)
            audio_key = keys.audio if manifest is None else recorded_audio_key(self.store, keys, manifest)
            audio = self.store.stat(audio_key)
            if audio is not None:
                try:
                    self.store.delete(audio_key, audio.generation)
                except DeleteForbidden as forbidden:
                    raise Corrupt(f"{exc}; cannot repair: {forbidden}") from forbidden
            outcome.repaired = str(exc)
            return False

    def first_archived(
        self, outcome: Outcome, candidates: list[ArchiveKeys], repair: bool, budget: Budget
    ) -> ArchiveKeys | None:
        """The first of `candidates` found archived, its retention completed; None when none is."""
        keys = next((k for k in candidates if self.look(outcome, k, repair, budget)), None)
        if keys is not None:
            self.complete_retention(outcome, keys)
        return keys

    def complete_retention(self, outcome: Outcome, keys: ArchiveKeys) -> None:
        """An archive verified before its retention was set (a crash, or retention switched on later): set it."""
        retention = retention_for(self.settings)
        if retention is None or outcome.retained_until is not None or not outcome.size_verified:
            # An archive no announced size proves complete stays replaceable (backfill --repair).
            return
        audio, _ = complete_retention(self.store, keys, retention)
        outcome.generation = audio.generation
        outcome.retained_until = retention.until.isoformat()
        outcome.retention_completed = True

    def _repair(self, outcome: Outcome, keys: ArchiveKeys, budget: Budget) -> None:
        """An agreeing archive: its audio renamed as its bytes say, its size confirmed when never announced."""
        renamed = rename(self.store, keys, retention_for(self.settings) if outcome.size_verified else None)
        if renamed is not None:
            outcome.repaired, outcome.repair_incomplete = renamed
            self.check_archived(outcome, keys)
        if outcome.size_verified:
            return
        announced = confirm_size(self.store, self.sources[outcome.api], outcome.recording_sid, keys, budget)
        if announced is not None:
            outcome.size_verified = True
            outcome.announced_bytes = announced
            outcome.size_verified_now = True
