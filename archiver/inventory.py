"""What the archive holds, from one listing per day prefix and run instead of two reads per recording."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from archiver.config import is_sid
from archiver.errors import Corrupt
from archiver.layout import day_prefix
from archiver.manifest import by_recording, pair_in
from archiver.proof import DELETION_EXT, Deletion
from archiver.storage import Store, StoredObject


@dataclass(frozen=True, slots=True)
class Archived:
    """A complete pair as a listing showed it; the audio agrees with its manifest, so one set of figures says both."""

    fmt: str  # the audio object's extension: the manifest's audio object names it
    size: int
    crc32c: str
    sha256: str
    generation: int
    size_verified: bool
    # When the first of the two stops being retained (ISO 8601); None when either is not under retention.
    retained_until: str | None
    # Either object under a temporary (legal) hold.
    held: bool = False
    # The record of a verified delete at SignalWire beside them, when there is one.
    deletion: Deletion | None = None
    # The manifest says the name was chosen from the audio's bytes: it cannot be misnamed.
    format_from_bytes: bool = False

    def figures(self) -> dict[str, Any]:
        """Size, checksums, generation, proof and retention as an outcome names them (`outcome.archive_fields`
        names a pair read object by object the same way)."""
        return {
            "bytes": self.size,
            "crc32c": self.crc32c,
            "sha256": self.sha256,
            "generation": self.generation,
            "size_verified": self.size_verified,
            "retained_until": self.retained_until,
        }


@dataclass
class Inventory:
    """The complete, agreeing pairs of each day asked about, each day's prefix listed once, in any order.

    A day's map holds its SIDs and a few figures each, never whole objects, and only days some listed
    recording was created on are listed, so the maps are bounded by the window's days. Asked in a
    newest-first list's order (`newest_first`), the days newer than the one asked about are never asked
    again and are let go: memory then follows a day, not the window. The RELAY list's order is
    undocumented, so its days are all kept: rows that change day back and forth cost no listing more.
    A recording that is missing, half there or disagreeing is simply not in it; the caller then looks
    closer, one recording at a time, exactly as it did before listings. A day whose listing fails is
    treated the same way (and named in `unlisted`), so a listing refused costs requests, never a recording.
    """

    store: Store
    account_sid: str
    listed_days: int = field(default=0, init=False)
    unlisted: list[dict[str, str]] = field(default_factory=list, init=False)
    _days: dict[date, dict[str, Archived]] = field(default_factory=dict, init=False)

    def archived(self, sid: str, created: datetime, *, newest_first: bool = False) -> Archived | None:
        """The recording's archive when the listing shows it complete and agreeing; None otherwise."""
        day = created.date()
        if newest_first:
            for newer in [listed for listed in self._days if listed > day]:
                del self._days[newer]
        pairs = self._days.get(day)
        if pairs is None:
            pairs = self._days[day] = self._list(day_prefix(self.account_sid, created))
        return pairs.get(sid.lower())

    def _list(self, prefix: str) -> dict[str, Archived]:
        pairs: dict[str, Archived] = {}
        try:
            for base, group in by_recording(self.store.list_objects(prefix)):
                _judge(base.removeprefix(prefix), group, pairs)
        # Forbidden, unavailable, anything: what this day holds is unknown, so nothing is assumed archived.
        except Exception as exc:
            self.unlisted.append({"prefix": prefix, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            return {}
        self.listed_days += 1
        return pairs


def _judge(sid: str, group: dict[str, StoredObject], pairs: dict[str, Archived]) -> None:
    """Add the SID's archive to `pairs` when its manifest names one of its audio objects and they agree."""
    pair = pair_in(group)
    if pair is None or not is_sid(sid):
        return
    try:
        pair.check()
    except Corrupt:
        return
    audio, manifest = pair
    recorded = pair.recorded
    pairs[sid] = Archived(
        fmt=pair.fmt,
        size=audio.size,
        crc32c=audio.crc32c,
        sha256=audio.metadata.get("sha256", ""),
        generation=audio.generation,
        size_verified=recorded.audio_size_verified,
        retained_until=pair.retained_until(),
        held=audio.held or manifest.held,
        deletion=Deletion.of(record) if (record := group.get(DELETION_EXT)) is not None else None,
        format_from_bytes=recorded.audio_format == pair.fmt,
    )
