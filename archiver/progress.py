"""Where an unfinished sweep stopped, kept in the bucket so the next run resumes there before new work.

Each change is a new create-only record, `{account}/.archiver/sweep-progress/{UTC time}-{random}.json`,
and the newest one counts. Nothing is ever replaced: under the bucket's retention policy an object
can be neither overwritten nor deleted until it has aged, so a single rewritten state object would
fail exactly where the archive is most protected. A sweep that finishes with nothing pending writes
nothing, so the steady state costs one listing that finds the last record (or none).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver.storage import Store, VerifyingReader

PROGRESS_DIR = ".archiver/sweep-progress/"
# A record is a few hundred bytes; anything larger is not one of ours.
_MAX_RECORD_BYTES = 4096


@dataclass(frozen=True)
class Window:
    """Recordings created after `since` and before `until`, both exclusive, as SignalWire's list filters read them."""

    since: datetime
    until: datetime

    def as_dict(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


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


def load(store: Store, account_sid: str, now: datetime, max_age: timedelta) -> Window | None:
    """The window the newest record (at most `max_age` old) leaves undone; None when nothing is pending.

    Raises when the record cannot be read: the caller sweeps its own window anyway and reports it.
    """
    prefix = _prefix(account_sid)
    newest = None
    for record in store.list_objects(prefix, start=prefix + _stamp(now - max_age)):
        newest = record
    if newest is None:
        return None
    if newest.size > _MAX_RECORD_BYTES:
        raise ValueError(f"{newest.uri} is {newest.size} bytes, not a progress record")
    pending = json.loads(store.read_bytes(newest.key)).get("pending")
    if pending is None:
        return None
    return Window(_moment(pending["since"]), _moment(pending["until"]))


def save(store: Store, account_sid: str, pending: Window | None, now: datetime) -> str:
    """Record what is left for the next run (None: nothing); returns the record's URI."""
    key = f"{_prefix(account_sid)}{_stamp(now)}-{uuid.uuid4().hex[:8]}.json"
    document = {"version": 1, "written_at": now.isoformat(), "pending": pending.as_dict() if pending else None}
    stored = store.put(key, VerifyingReader.of_bytes(json.dumps(document).encode()), "application/json", {})
    return stored.uri
