"""Where an unfinished sweep stopped, kept in the bucket so the next run resumes there before new work.

Each change is a new create-only record, `{account}/.archiver/sweep-progress/{UTC time}-{random}.json`,
and the newest readable one counts. A record says, per API, which windows are still owed (for an
API whose list has no documented order, with the page link a cut listing resumes from) and how many
runs in a row left something. Nothing is ever replaced: under the bucket's retention policy an
object can be neither overwritten nor deleted until it has aged, so a single rewritten state object
would fail exactly where the archive is most protected. A sweep that finishes with nothing pending writes
nothing, so the steady state costs one listing that finds the last record (or none).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver.storage import Store, StoredObject, VerifyingReader

PROGRESS_DIR = ".archiver/sweep-progress/"
# A record is a few hundred bytes; anything larger is not one of ours.
_MAX_RECORD_BYTES = 16384
# A cursor longer than this is not kept: the pass then starts again from its first page.
_MAX_CURSOR = 2048
# A window still owed after more runs in a row than this is an ERROR line (`sweep_window_stuck`) an alert matches.
STUCK_AFTER_RUNS = 3
# How many of the newest records are tried before giving up on finding one readable.
_TRIED = 5


@dataclass(frozen=True)
class Window:
    """Recordings created after `since` and before `until`, both exclusive, as SignalWire's list filters read them."""

    since: datetime
    until: datetime

    def as_dict(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


@dataclass(frozen=True)
class Pass:
    """One listing of an API still owed for a window: from `next`, a page link SignalWire gave, or from the start."""

    window: Window
    next: str | None = None

    def as_dict(self) -> dict[str, str]:
        return self.window.as_dict() | ({"next": self.next} if self.next else {})


@dataclass(frozen=True)
class Progress:
    """What earlier runs left, per API (`*`: every API, as a version 1 record said), and how many runs in a
    row ended with something left."""

    owed: dict[str, list[Pass]] = field(default_factory=dict)
    incomplete_runs: int = 0

    def owed_by(self, api: str) -> list[Pass]:
        return self.owed.get(api, self.owed.get("*", []))

    @property
    def pending(self) -> Window | None:
        """The smallest window covering everything owed; None when nothing is."""
        windows = [p.window for passes in self.owed.values() for p in passes]
        if not windows:
            return None
        return Window(min(w.since for w in windows), max(w.until for w in windows))


def _prefix(account_sid: str) -> str:
    return f"{account_sid}/{PROGRESS_DIR}"


def _stamp(moment: datetime) -> str:
    # Fixed width, so names sort in time order.
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"progress record holds a time without an offset: {value!r}")
    return moment.astimezone(UTC)


def _window(data: Any) -> Window:
    return Window(_moment(data["since"]), _moment(data["until"]))


def _pass(data: Any) -> Pass:
    cursor = data.get("next")
    return Pass(_window(data), cursor if isinstance(cursor, str) and 0 < len(cursor) <= _MAX_CURSOR else None)


def _parse(document: Any) -> Progress:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    runs = document.get("incomplete_runs", 0)
    runs = runs if isinstance(runs, int) and not isinstance(runs, bool) and runs >= 0 else 0
    if "owed" in document:
        owed = {str(api): [_pass(p) for p in passes] for api, passes in document["owed"].items() if passes}
        return Progress(owed, runs)
    pending = document.get("pending")
    return Progress({"*": [Pass(_window(pending))]} if pending is not None else {}, runs)


def load(store: Store, account_sid: str, now: datetime, max_age: timedelta) -> tuple[Progress, str | None]:
    """What the newest readable record (at most `max_age` old) leaves undone, and the problem with any newer
    one that could not be read (None: none). An unreadable record is passed over, never fatal: the caller
    reports the problem and writes a fresh record, so it is reported once."""
    prefix = _prefix(account_sid)
    newest: deque[StoredObject] = deque(maxlen=_TRIED)
    for record in store.list_objects(prefix, start=prefix + _stamp(now - max_age)):
        newest.append(record)
    problem = None
    for record in reversed(newest):
        try:
            if record.size > _MAX_RECORD_BYTES:
                raise ValueError(f"{record.size} bytes, not a progress record")
            return _parse(json.loads(store.read_bytes(record.key))), problem
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = problem or f"{record.uri} is unreadable ({type(exc).__name__}: {str(exc)[:200]}); passed over"
    return Progress(), problem


def save(store: Store, account_sid: str, progress: Progress, now: datetime) -> str:
    """Record what is left for the next run; returns the record's URI."""
    key = f"{_prefix(account_sid)}{_stamp(now)}-{uuid.uuid4().hex[:8]}.json"
    pending = progress.pending
    document = {
        "version": 2,
        "written_at": now.isoformat(),
        # The whole of it, for people and for a version 1 reader.
        "pending": pending.as_dict() if pending else None,
        "owed": {api: [p.as_dict() for p in passes] for api, passes in progress.owed.items() if passes},
        "incomplete_runs": progress.incomplete_runs,
    }
    stored = store.put(key, VerifyingReader.of_bytes(json.dumps(document).encode()), "application/json", {})
    return stored.uri
