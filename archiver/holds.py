"""Legal holds: set or clear a GCS temporary hold on each archived recording named, one audit line per object."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.archive import call_sid_of
from archiver.config import is_sid
from archiver.layout import day_prefixes
from archiver.logging import get_logger
from archiver.manifest import by_recording, pair_in
from archiver.recordings import parse_date
from archiver.storage import Store, StoredObject

# A manifest is SignalWire's metadata for one recording, a few KB; one claiming more is not read whole.
_MANIFEST_READ_MAX = 1024 * 1024


@dataclass(frozen=True)
class Selection:
    """Which archived recordings a hold names: one recording, every recording of a call, a window, or
    an intersection of these (`since`/`until` alone: every recording created in the window)."""

    recording: str | None = None
    call: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def prefixes(self, account_sid: str) -> Iterator[str]:
        """The archive's day prefixes the window covers; without a window, the whole account's archive."""
        if self.since is None or self.until is None:
            yield f"{account_sid}/"
            return
        yield from day_prefixes(account_sid, self.since, self.until)


@dataclass(frozen=True)
class ListedPair:
    """One recording's SID, audio and manifest as a listing showed them: what a hold is set on."""

    sid: str
    audio: StoredObject
    manifest: StoredObject


@dataclass
class HoldReport:
    """What one `hold` run did: recordings matched, objects changed or already as asked, failures by URI."""

    held: bool
    recordings: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.recordings > 0 and not self.failed

    def summary(self) -> dict[str, Any]:
        return {
            "temporary_hold": self.held,
            "recordings": self.recordings,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "failures": len(self.failed),
            # Bounded: Cloud Logging drops an entry over 256 KB, and with it the summary.
            "failed": self.failed[:50],
        }


def listed_pairs(store: Store, prefix: str) -> Iterator[ListedPair]:
    """Complete recordings under `prefix`, from one listing: a manifest and the audio object it names.

    Objects of one recording are adjacent in key order (`{day}/{sid}.{ext}`), so only one is held at a time.
    """
    for base, group in by_recording(store.list_objects(prefix)):
        sid = base.rpartition("/")[2]
        pair = pair_in(group)
        if pair is not None and is_sid(sid):
            yield ListedPair(sid, *pair)


def _call_sid(store: Store, recording: ListedPair) -> str | None:
    """The audio's `call-sid` metadata, copied from the manifest; else the manifest's own `call_sid`."""
    found = call_sid_of({"call_sid": recording.audio.metadata.get("call-sid")})
    if found is not None or recording.manifest.size > _MANIFEST_READ_MAX:
        return found
    try:
        data = json.loads(store.read_bytes(recording.manifest.key))
    except ValueError:
        return None
    return call_sid_of(data) if isinstance(data, dict) else None


def _created(recording: ListedPair) -> datetime | None:
    try:
        return parse_date(recording.audio.metadata.get("date-created"))
    except ValueError:
        return None


def matches(store: Store, selection: Selection, recording: ListedPair) -> bool:
    if selection.recording is not None and recording.sid != selection.recording.lower():
        return False
    if selection.since is not None and selection.until is not None:
        created = _created(recording)
        # Without a readable date the day in the key is all there is, and the prefix already matched it.
        if created is not None and not selection.since <= created < selection.until:
            return False
    return selection.call is None or _call_sid(store, recording) == selection.call.lower()


def apply_hold(store: Store, account_sid: str, selection: Selection, *, held: bool, reason: str = "") -> HoldReport:
    """Set (`held`) or clear the temporary hold on the audio and the manifest of every recording selected."""
    report = HoldReport(held)
    log = get_logger()
    for prefix in selection.prefixes(account_sid):
        for recording in listed_pairs(store, prefix):
            if not matches(store, selection, recording):
                continue
            report.recordings += 1
            for obj in (recording.audio, recording.manifest):
                fields = {"recording_sid": recording.sid, "object_uri": obj.uri, "source": "hold", "reason": reason}
                if obj.held == held:
                    report.unchanged += 1
                    log.info("legal hold already as asked", outcome="hold_unchanged", temporary_hold=held, **fields)
                    continue
                try:
                    changed = store.set_hold(obj.key, held)
                # One object's failure (a refusal, an unconfirmed hold) is reported; the others are still held.
                except Exception as exc:
                    error = f"{type(exc).__name__}: {str(exc)[:500]}"
                    report.failed.append({"uri": obj.uri, "error": error})
                    log.error(
                        "legal hold not changed", outcome="hold_failed", temporary_hold=held, error=error, **fields
                    )
                    continue
                report.changed += 1
                outcome = "held" if held else "released"
                message = "legal hold set" if held else "legal hold released"
                log.info(message, outcome=outcome, temporary_hold=changed.held, generation=changed.generation, **fields)
    log.info("legal hold summary", outcome="hold_summary", source="hold", reason=reason, **report.summary())
    return report
