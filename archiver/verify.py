"""`verify`: one report row for every recording SignalWire lists in a window, then for every stored pair it does not."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from archiver.archive import Archiver
from archiver.archive_view import (
    AHEAD_PER_WORKER,
    SeenSids,
    archive_rows,
    bounded_map,
    conclude,
    fill_objects,
    fill_recorded,
)
from archiver.config import is_sid
from archiver.errors import Corrupt, Unreachable
from archiver.inventory import Archived, Inventory
from archiver.layout import ArchiveKeys, audio_key_of
from archiver.listing import created_of, judge, listing_order
from archiver.manifest import Manifest, recorded_audio_key
from archiver.progress import Window
from archiver.proof import Deletion, deletion_key, signalwire_copy
from archiver.recordings import FINAL_WITH_AUDIO, KNOWN_STATUSES, NO_AUDIO

VERIFY_COLUMNS = [
    "recording_sid",
    "date_created",
    "status",
    "result",
    "detail",
    "audio_uri",
    "audio_bytes",
    "recorded_bytes",
    "size_verified",
    "audio_crc32c",
    "recorded_crc32c",
    "recorded_sha256",
    "computed_sha256",
    "metadata_uri",
    "metadata_present",
    "retained_until",
    # Where SignalWire's copy stands (`listed`, `deleted`, `listed_after_delete`) and the record that says so.
    "signalwire_copy",
    "deletion_evidence",
    "held",
    # `signalwire` (a recording SignalWire lists) or `archive` (a stored pair it does not list): see verify().
    "view",
]
# Results that make `verify` exit 1; `unverified_size` is reported, and DELETE_AFTER_ARCHIVE never deletes it.
FAILING_RESULTS = frozenset({"missing", "corrupt", "failed"})


def _listed_archive(inventory: Inventory, recording: dict[str, Any], newest_first: bool) -> Archived | None:
    """The archive the listings show for a final recording with a valid SID and date; None otherwise."""
    sid = str(recording.get("sid") or "")
    status = str(recording.get("status") or "").lower()
    created = created_of(recording)
    if status not in FINAL_WITH_AUDIO or not is_sid(sid) or created is None:
        return None
    return inventory.archived(sid, created, newest_first=newest_first)


def verify_one(
    archiver: Archiver, recording: dict[str, Any], *, read_bytes: bool, archived: Archived | None = None
) -> dict[str, Any]:
    """One row of the report: `ok`, `unverified_size`, `not_retained`, `missing`, `corrupt`, `misnamed`,
    `no_audio`, `not_final`, `unknown_status` or `failed`.

    `archived` is what a listing of the archive showed, complete and agreeing; without it both
    objects are read to find out. A row that cannot be checked (a malformed SID or date, a storage
    error) is `failed`; the rest goes on.
    """
    sid = str(recording.get("sid") or "")[:64]
    status = str(recording.get("status") or "").lower()[:32]
    row: dict[str, Any] = {c: "" for c in VERIFY_COLUMNS}
    row.update(
        recording_sid=sid, date_created=str(recording.get("date_created") or "")[:64], status=status, view="signalwire"
    )
    if status not in FINAL_WITH_AUDIO:
        row["result"] = "no_audio" if status in NO_AUDIO else "not_final"
        if status not in KNOWN_STATUSES:
            row.update(result="unknown_status", detail=f"status {status!r} is not one SignalWire documents")
        return row
    if not is_sid(sid):
        row.update(result="failed", detail="the listing returned a malformed SID")
        return row
    try:
        audio_key, meta_key = archiver.keys_of(sid, recording)
        row["audio_uri"] = archiver.store.uri(audio_key)
        row["metadata_uri"] = archiver.store.uri(meta_key)
        if archived is None:
            audio_key = _check_objects(archiver, row, audio_key, meta_key)
        else:
            audio_key = audio_key_of(meta_key, archived.fmt)
            row.update(
                audio_uri=archiver.store.uri(audio_key),
                metadata_present=True,
                audio_bytes=archived.size,
                audio_crc32c=archived.crc32c,
                recorded_bytes=archived.size,
                recorded_crc32c=archived.crc32c,
                recorded_sha256=archived.sha256,
                size_verified=archived.size_verified,
                retained_until=archived.retained_until or "",
            )
        if row["result"] != "missing":
            conclude(archiver, row, audio_key, read_bytes)
        _evidence(archiver, row, meta_key, archived)
    except Corrupt as exc:
        row.update(result="corrupt", detail=str(exc))
    except Exception as exc:
        row.update(result="failed", detail=f"{type(exc).__name__}: {exc}")
    return row


def _evidence(archiver: Archiver, row: dict[str, Any], meta_key: str, archived: Archived | None) -> None:
    """The columns on SignalWire's copy and on holds, from the listing when it showed the archive."""
    if archived is not None:
        row["held"] = archived.held
        deletion = archived.deletion
    else:
        record = archiver.store.stat(deletion_key(meta_key))
        deletion = Deletion.of(record) if record is not None else None
    row.update(signalwire_copy(True, deletion, str(row.get("recorded_sha256") or "")))


def _check_objects(archiver: Archiver, row: dict[str, Any], audio_key: str, meta_key: str) -> str:
    """Read both objects: `missing` without a manifest, Corrupt when the audio disagrees with it.

    Returns the audio's key: the one the manifest names, when that is the recording's under another extension.
    """
    manifest = archiver.store.stat(meta_key)
    if manifest is not None:
        audio_key = recorded_audio_key(archiver.store, ArchiveKeys(audio_key, meta_key), manifest)
        row["audio_uri"] = archiver.store.uri(audio_key)
    audio = archiver.store.stat(audio_key)
    fill_objects(row, audio, manifest)
    if manifest is None:
        # No manifest means never completed: whatever audio is there is an unfinished attempt.
        row.update(result="missing", detail=f"not archived: {row['metadata_uri']}")
        return audio_key

    def audio_missing(_recorded: Manifest) -> str:
        return f"{row['audio_uri']} is missing, though its manifest records it as archived"

    fill_recorded(row, audio, manifest, audio_missing)
    return audio_key


def blank_row() -> dict[str, Any]:
    """A report row with every column empty."""
    return {column: "" for column in VERIFY_COLUMNS}


def _listing_failed(api: str, exc: Exception) -> dict[str, Any]:
    row = blank_row()
    row.update(view="signalwire", result="failed", detail=f"listing recordings failed ({api}): {str(exc)[:500]}")
    return row


def _listed(
    archiver: Archiver, window: Window, page_size: int, seen: SeenSids, inventory: Inventory
) -> Iterator[tuple[dict[str, Any], Archived | None]]:
    """Every row SignalWire lists in the window, each API on its own, judged against the window on our side,
    with what the archive's listings show of it; a listing that fails is a `failed` row of its own (marked
    `listing_failed`) and the next API is listed."""
    for source in listing_order(archiver.sources.values()):
        try:
            for page in source.recording_pages(window.since, window.until, archiver.policy, page_size):
                judged = judge(page.rows, window)
                for recording in judged.rows:
                    seen.add(str(recording.get("sid") or ""))
                    yield recording, _listed_archive(inventory, recording, source.newest_first)
                if judged.older and source.newest_first:
                    break
        # A space that cannot be reached at all is a configuration error, the same for every API: said once.
        except Unreachable:
            raise
        except Exception as exc:
            yield {"listing_failed": _listing_failed(source.name, exc)}, None


def verify(
    archiver: Archiver,
    since: datetime,
    until: datetime,
    *,
    read_bytes: bool = True,
    concurrency: int = 4,
    page_size: int = 1000,
    views: tuple[str, ...] = ("signalwire", "archive"),
) -> Iterator[dict[str, Any]]:
    """Rows (VERIFY_COLUMNS) in two views, streamed: memory follows a day of the archive in a
    newest-first listing, the window's days in the RELAY list's.

    `signalwire`: one row for every recording SignalWire lists in the window, in listing order. What
    is archived comes from listings of the archive's day prefixes; only recordings those do not show
    complete and agreeing are read one by one (and, with `read_bytes`, every stored byte is).
    `archive`: then one row for every manifest and audio pair stored in the window that SignalWire did
    not list (deleted there, say), the two checked against each other (archive_view.judge_pair): its
    `status` is `archived`. With views=("archive",) SignalWire is not asked at all and every stored
    pair gets a row. The `view` column says which view a row belongs to.
    """
    inventory = Inventory(archiver.store, archiver.settings.project_id)
    seen = SeenSids()

    def row_of(item: tuple[dict[str, Any], Archived | None]) -> dict[str, Any]:
        recording, archived = item
        failed = recording.get("listing_failed")
        if isinstance(failed, dict):
            return failed
        return verify_one(archiver, recording, read_bytes=read_bytes, archived=archived)

    # Not pool.map, which submits every item at once: the whole listing and every row would be held.
    ahead = AHEAD_PER_WORKER * concurrency
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify") as pool:
        if "signalwire" in views:
            # The inventory is asked by one thread, in listing order: a newest-first list's days one at a time.
            listed = _listed(archiver, Window(since, until), page_size, seen, inventory)
            yield from bounded_map(pool, row_of, listed, ahead)
        if "archive" in views:
            leave_out = seen if "signalwire" in views else None
            yield from archive_rows(
                archiver, (since, until), blank_row, read_bytes=read_bytes, pool=pool, leave_out=leave_out, ahead=ahead
            )
