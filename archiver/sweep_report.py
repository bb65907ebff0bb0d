"""What one sweep or backfill did, bounded: counts for everything, the first few SIDs of each kind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from archiver.progress import Pass, Window
from archiver.recordings import KNOWN_STATUSES

# How many SIDs (or failures) of each kind a report names; every one is counted. With errors cut to
# their first and last few hundred characters (the cause is often at the end), a report and the log
# line carrying it stay far below Cloud Logging's 256 KB an entry (under 100 KB: tests/test_sweep_bounds.py).
REPORT_KEEPS = 50
_ERROR_HEAD = 400
_ERROR_TAIL = 400
# Distinct statuses counted by name; any further ones are counted together as `other`.
STATUS_KINDS = 20

T = TypeVar("T")


class Capped(list[T]):
    """A list that keeps its first REPORT_KEEPS items and counts all of them in `total`."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def append(self, item: T) -> None:
        self.total += 1
        if len(self) < REPORT_KEEPS:
            super().append(item)

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)


def failure(sid: str, error: str) -> dict[str, str]:
    """A failed recording (or listing, sid ''), its error cut to a bounded length."""
    if len(error) > _ERROR_HEAD + _ERROR_TAIL:
        error = f"{error[:_ERROR_HEAD]} … {error[-_ERROR_TAIL:]}"
    return {"sid": sid[:64], "error": error}


@dataclass
class SweepReport:
    """What one sweep or backfill did; `failed` and `remaining` name recordings, the rest count them.

    `resumed` is what earlier runs left and this one swept first; `owed` is, per API, what this run
    leaves for the next (`resume_next` covers all of it; None: nothing). `outside_window` counts
    listed rows the server sent from outside the window (its date filter read loosely), passed over.
    `archive_listings` counts the day prefixes listed; `unlisted_days` names those whose listing
    failed, whose recordings were then checked one by one. Lists keep their first REPORT_KEEPS
    items; `summary()` gives every total.
    """

    since: datetime
    until: datetime
    listed: int = 0
    archived: Capped[str] = field(default_factory=Capped)
    already_archived: int = 0
    queued: Capped[str] = field(default_factory=Capped)
    already_queued: int = 0
    would_archive: Capped[str] = field(default_factory=Capped)
    skipped: Counter[str] = field(default_factory=Counter)
    # Status words no documentation lists, by word (they are in `skipped` too): each is a WARNING.
    unknown_statuses: Counter[str] = field(default_factory=Counter)
    failed: Capped[dict[str, str]] = field(default_factory=Capped)
    corrupt: Capped[dict[str, str]] = field(default_factory=Capped)
    repaired: Capped[str] = field(default_factory=Capped)
    # What a repair could not finish (a renamed archive's old object that retention keeps), and why.
    repair_incomplete: Capped[dict[str, str]] = field(default_factory=Capped)
    remaining: Capped[str] = field(default_factory=Capped)
    deleted: int = 0
    bytes: int = 0
    outside_window: int = 0
    resumed: Window | None = None
    owed: dict[str, list[Pass]] = field(default_factory=dict)
    archive_listings: int = 0
    unlisted_days: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.corrupt

    @property
    def resume_next(self) -> Window | None:
        windows = [p.window for passes in self.owed.values() for p in passes]
        return Window(min(w.since for w in windows), max(w.until for w in windows)) if windows else None

    def skip(self, status: str) -> None:
        """Count a recording passed over for its status, a word no documentation lists apart too; a lying
        list cannot grow either counter without bound."""
        _count(self.skipped, status or "no status")
        if status and status not in KNOWN_STATUSES:
            _count(self.unknown_statuses, status)

    def summary(self) -> dict[str, Any]:
        resume_next = self.resume_next
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "listed": self.listed,
            "outside_window": self.outside_window,
            "archived": self.archived.total,
            "archived_sids": list(self.archived),
            "already_archived": self.already_archived,
            "queued": self.queued.total,
            "already_queued": self.already_queued,
            "would_archive": list(self.would_archive),
            "skipped": dict(self.skipped),
            "unknown_statuses": dict(self.unknown_statuses),
            "failed": list(self.failed),
            "corrupt": list(self.corrupt),
            "repaired": list(self.repaired),
            "repair_incomplete": list(self.repair_incomplete),
            "remaining": list(self.remaining),
            "totals": {
                name: getattr(self, name).total
                for name in ("would_archive", "failed", "corrupt", "repaired", "repair_incomplete", "remaining")
            },
            "kept_of_each": REPORT_KEEPS,
            "resumed": self.resumed.as_dict() if self.resumed else None,
            "resume_next": resume_next.as_dict() if resume_next else None,
            "owed": {api: [p.as_dict() for p in passes] for api, passes in self.owed.items() if passes},
            "deleted": self.deleted,
            "bytes": self.bytes,
            "archive_listings": self.archive_listings,
            "unlisted_days": self.unlisted_days,
        }


def _count(counter: Counter[str], word: str) -> None:
    counter[word if word in counter or len(counter) < STATUS_KINDS else "other"] += 1
