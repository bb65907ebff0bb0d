"""Finding a recording's existing archive: where it may be, whether it agrees, and what a repair fixes there."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from archiver.config import Settings
from archiver.deletion import confirm_size
from archiver.errors import Corrupt, DeleteForbidden
from archiver.layout import ArchiveKeys, keys_for
from archiver.manifest import AudioMissing, StoredPair, read_pair
from archiver.misnamed import rename
from archiver.outcome import archive_fields, figures
from archiver.recordings import parse_date
from archiver.retention import complete_retention, retention_for
from archiver.signalwire import Budget, RecordingSource
from archiver.storage import Store


@dataclass(frozen=True)
class Look:
    """One place in the archive as a look left it: the pair found there, how it disagrees, what the look did.

    `audio_uri` is the audio the place names (the manifest's, once there is one); `corrupt` is the
    disagreement a look without repair found; `repaired` says what a repair changed, `repair_incomplete`
    what it could not; `announced` is a size SignalWire announced when asked during the look.
    """

    keys: ArchiveKeys
    audio_uri: str
    metadata_uri: str
    pair: StoredPair | None = None
    corrupt: Corrupt | None = None
    announced: int | None = None
    retention_completed: bool = False
    repaired: str | None = None
    repair_incomplete: str | None = None

    @property
    def archived(self) -> bool:
        """Both objects are there and agree."""
        return self.pair is not None and self.corrupt is None

    @property
    def size_verified(self) -> bool:
        """The stored size equals one SignalWire announced, recorded in the manifest or confirmed by this look."""
        return self.announced is not None or (self.pair is not None and self.pair.recorded.audio_size_verified)

    def fields(self) -> dict[str, Any]:
        """The place as an outcome names it: both URIs, the audio's figures, and what an agreeing pair proves."""
        found: dict[str, Any] = {}
        if self.pair is not None:
            found = archive_fields(self.pair) if self.archived else figures(self.pair.audio)
        return {**found, "audio_uri": self.audio_uri, "metadata_uri": self.metadata_uri}


# Told each place a look found objects at, before anything there is repaired or retained: a step that then fails
# still leaves the outcome naming what was found.
Seen = Callable[[Look], None]


class Named(NamedTuple):
    """A recording as SignalWire's API knows it: its SID and which API."""

    sid: str
    api: str


class Lookup:
    """Looks for archives in a store; each look returns what it found as a `Look`."""

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

    def read(self, keys: ArchiveKeys) -> Look:
        """The place as stored now, nothing changed; a disagreement is returned in `corrupt`, never raised."""
        metadata_uri = self.store.uri(keys.manifest)
        try:
            pair = read_pair(self.store, keys)
        except AudioMissing as exc:
            return Look(keys, exc.uri, metadata_uri, corrupt=exc)
        if pair is None:
            return Look(keys, self.store.uri(keys.audio), metadata_uri)
        try:
            pair.check()
        except Corrupt as exc:
            return Look(keys, pair.audio.uri, metadata_uri, pair, corrupt=exc)
        return Look(keys, pair.audio.uri, metadata_uri, pair)

    def check_archived(self, keys: ArchiveKeys) -> StoredPair | None:
        """The agreeing pair at `keys`, None when there is no manifest; Corrupt when the pair disagrees."""
        look = self.read(keys)
        if look.corrupt is not None:
            raise look.corrupt
        return look.pair

    def _read(self, keys: ArchiveKeys, seen: Seen) -> Look:
        """`read`, told to `seen` when it found objects."""
        look = self.read(keys)
        if look.pair is not None or look.corrupt is not None:
            seen(look)
        return look

    def _look(self, keys: ArchiveKeys, repair: bool, recording: Named, budget: Budget, seen: Seen) -> Look:
        """`read`; in repair mode a disagreeing audio object is removed for a rewrite, one named against its bytes
        is copied to the right name, and one SignalWire announced no size for is checked against the size
        `recording`'s API announces now."""
        look = self._read(keys, seen)
        if not repair:
            return look
        try:
            if look.corrupt is not None:
                raise look.corrupt
            return look if look.pair is None else self._repair(look, recording, budget, seen)
        except Corrupt as exc:
            return self._clear(keys, exc, seen)

    def first_archived(
        self, candidates: list[ArchiveKeys], repair: bool, recording: Named, budget: Budget, seen: Seen
    ) -> Look | None:
        """The first of `candidates` found archived, its retention completed, or the first found corrupt; without
        either, the last a repair cleared; None when nothing was there."""
        cleared = None
        for keys in candidates:
            look = self.find(keys, repair, recording, budget, seen)
            if look.archived or look.corrupt is not None:
                return look
            cleared = look if look.repaired is not None else cleared
        return cleared

    def find(self, keys: ArchiveKeys, repair: bool, recording: Named, budget: Budget, seen: Seen) -> Look:
        """`_look`, and an archive found there verified before its retention was set (a crash, or retention switched
        on later) gets it now."""
        look = self._look(keys, repair, recording, budget, seen)
        retention = retention_for(self.settings)
        if retention is None or look.pair is None or not look.archived:
            return look
        if look.pair.retained_until() is not None or not look.size_verified:
            # An archive no announced size proves complete stays replaceable (backfill --repair).
            return look
        return replace(look, pair=complete_retention(self.store, look.keys, retention), retention_completed=True)

    def _repair(self, look: Look, recording: Named, budget: Budget, seen: Seen) -> Look:
        """An agreeing archive: its audio renamed as its bytes say, its size confirmed when never announced."""
        renamed = rename(self.store, look.keys, retention_for(self.settings) if look.size_verified else None)
        if renamed is not None:
            look = replace(self._read(look.keys, seen), repaired=renamed.repaired, repair_incomplete=renamed.incomplete)
            if look.corrupt is not None:
                raise look.corrupt
        if look.size_verified:
            return look
        source = self.sources[recording.api]
        announced = confirm_size(self.store, source, recording.sid, look.keys, budget)
        return look if announced is None else replace(look, announced=announced)

    def _clear(self, keys: ArchiveKeys, exc: Corrupt, seen: Seen) -> Look:
        """Remove the audio the manifest names now (a rename may have moved it), so the recording is written afresh."""
        look = self._read(keys, seen)
        if look.pair is not None:
            try:
                self.store.delete(look.pair.audio.key, look.pair.audio.generation)
            except DeleteForbidden as forbidden:
                raise Corrupt(f"{exc}; cannot repair: {forbidden}") from forbidden
        return Look(look.keys, look.audio_uri, look.metadata_uri, repaired=str(exc))
