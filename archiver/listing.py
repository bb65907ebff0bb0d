"""Listing SignalWire's APIs over a window: in which order, the date filters sent, rows judged, what a cut one owes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from archiver.progress import Pass, Window
from archiver.recordings import parse_date, rfc2822
from archiver.signalwire import RecordingSource

_DAY = timedelta(days=1)


def laml_filters(window: Window) -> dict[str, str]:
    """`DateCreated>` and `DateCreated<` that give a superset of the window under any reading of them.

    The spec has RFC 2822 for this list (specs/compatibility-api/recordings/main.tsp lines 32-40,
    fern/apis/compatibility/openapi.yaml lines 4148-4161) but YYYY-MM-DD for the conference list
    (openapi.yaml lines 1761-1781), and Twilio, which the API mirrors, reads the date only. Both are
    midnights a whole day outside the window: read exclusive, inclusive, with or without the time,
    the window is inside; ignored, the listing stops at the first row older than the window
    (`Judged.older`). Every row is checked against the window on our side either way.
    """
    after = datetime.combine(window.since.astimezone(UTC).date() - _DAY, time(), UTC)
    before = datetime.combine(window.until.astimezone(UTC).date() + _DAY, time(), UTC)
    return {"DateCreated>": rfc2822(after), "DateCreated<": rfc2822(before)}


def created_of(row: dict[str, Any]) -> datetime | None:
    try:
        return parse_date(row.get("date_created"))
    except ValueError:
        return None


@dataclass
class Judged:
    """A page's rows against the window: those inside (and those with no readable date, to be reported),
    how many fell outside, and whether one was older than the window (in a newest-first list: the end)."""

    rows: list[dict[str, Any]]
    outside: int = 0
    older: bool = False


def judge(rows: Iterable[dict[str, Any]], window: Window) -> Judged:
    judged = Judged([])
    for row in rows:
        created = created_of(row)
        if created is None or window.since < created < window.until:
            judged.rows.append(row)
            continue
        judged.outside += 1
        judged.older = judged.older or created <= window.since
    return judged


def union(windows: Iterable[Window]) -> Window | None:
    """The smallest window covering them all; None for none."""
    found = list(windows)
    if not found:
        return None
    return Window(min(w.since for w in found), max(w.until for w in found))


def plan(owed: list[Pass], since: datetime, until: datetime) -> list[Pass]:
    """This run's passes over one API: what an earlier run left (a resumable one first), then the new
    window, less what a newest-first window left already covers (its last whole second is `until` - 1s)."""
    if not owed:
        return [Pass(Window(since, until))]
    last = owed[-1].window
    if last.since <= since:
        since = max(since, last.until - timedelta(seconds=1))
    return owed + ([Pass(Window(since, until))] if since < until else [])


def owed_after(cut: Pass, later: list[Pass]) -> list[Pass]:
    """What the next run owes once a pass was cut (or failed) and `later` were not started: a pass with a
    cursor first, then one fresh pass over the rest (merged, since none of them has a cursor)."""
    resumable = [cut] if cut.next else []
    rest = union(p.window for p in ([] if cut.next else [cut]) + later)
    return resumable + ([Pass(rest)] if rest else [])


def listing_order(sources: Iterable[RecordingSource]) -> list[RecordingSource]:
    """The configured APIs, newest-first lists (LaML's, filtered by date) first: see sweep.sweep()."""
    return sorted(sources, key=lambda source: not source.newest_first)
