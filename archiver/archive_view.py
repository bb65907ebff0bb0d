"""verify's archive view and what both views share: stored pairs judged, report rows filled, bounded work."""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from archiver.archive import Archiver
from archiver.audioformat import SNIFF_BYTES
from archiver.config import is_sid
from archiver.errors import Corrupt
from archiver.layout import MANIFEST_EXT, day_prefixes
from archiver.manifest import Manifest, StoredPair, audio_in, by_recording
from archiver.misnamed import extension, wrong_name
from archiver.proof import DELETION_EXT, Deletion, signalwire_copy
from archiver.recordings import parse_date, whole_number
from archiver.storage import StoredObject, crc32c_of

# Rows in flight at once, per worker: enough to keep every worker busy, few enough that memory does not
# follow the window.
AHEAD_PER_WORKER = 2
T = TypeVar("T")
R = TypeVar("R")


def bounded_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """`pool.map` in order, but with at most `ahead` items taken from `items` before their results are used.

    Executor.map submits every item at once: over a month's listing that is the whole listing in memory.
    """
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class SeenSids:
    """The SIDs one view listed, as 8-byte hashes (8 MB for a million), so the other view can leave them out.

    Kept in 256 arrays by the hash's top byte, each sorted on first use: sorting goes through a list of
    Python ints, and one 256th of a month's SIDs at a time keeps that transient small.
    """

    def __init__(self) -> None:
        self._buckets = [array("Q") for _ in range(256)]
        self._unsorted: set[int] = set()

    @staticmethod
    def _hash(sid: str) -> int:
        return int.from_bytes(hashlib.blake2b(sid.lower().encode(), digest_size=8).digest(), "big")

    def add(self, sid: str) -> None:
        hashed = self._hash(sid)
        self._buckets[hashed >> 56].append(hashed)
        self._unsorted.add(hashed >> 56)

    def __contains__(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        wanted = self._hash(sid)
        index = wanted >> 56
        if index in self._unsorted:
            self._buckets[index] = array("Q", sorted(self._buckets[index]))
            self._unsorted.discard(index)
        bucket = self._buckets[index]
        at = bisect_left(bucket, wanted)
        return at < len(bucket) and bucket[at] == wanted


def conclude(archiver: Archiver, row: dict[str, Any], audio_key: str, read_bytes: bool) -> None:
    """An archive that agrees with its manifest: read its bytes back if asked, then `ok`, `misnamed`,
    `unverified_size` or `not_retained`."""
    if read_bytes:
        head = bytearray()

        def watched() -> Iterator[bytes]:
            for chunk in archiver.store.iter_bytes(audio_key):
                head.extend(chunk[: max(0, SNIFF_BYTES - len(head))])
                yield chunk

        size, crc, sha = crc32c_of(watched())
        row["computed_sha256"] = sha
        if (size, crc, sha) != (row["recorded_bytes"], row["recorded_crc32c"], row["recorded_sha256"]):
            raise Corrupt(f"stored bytes read back as {size} bytes sha256 {sha}")
        if found := wrong_name(audio_key, bytes(head)):
            # Intact, and the manifest names it, but anything looking for the right extension will not find it.
            fmt, evidence = found
            detail = f"holds {fmt} ({evidence}) under .{extension(audio_key)}; backfill --repair copies it to .{fmt}"
            row.update(result="misnamed", detail=detail)
            return
    if not row["size_verified"]:
        row.update(result="unverified_size", detail="SignalWire announced no size when it was archived")
        return
    if archiver.settings.object_retention_days and not row["retained_until"]:
        row.update(result="not_retained", detail="verified, but not under retention yet: the next sweep sets it")
        return
    row["result"] = "ok"


def fill_objects(row: dict[str, Any], audio: StoredObject | None, manifest: StoredObject | None) -> None:
    """The columns the objects themselves show, either possibly absent: whether the manifest is there, any
    temporary hold, and the audio's URI, size and CRC32C."""
    row["metadata_present"] = manifest is not None
    row["held"] = any(obj.held for obj in (audio, manifest) if obj is not None)
    if audio is not None:
        row.update(audio_uri=audio.uri, audio_bytes=audio.size, audio_crc32c=audio.crc32c)


def fill_recorded(
    row: dict[str, Any], audio: StoredObject | None, manifest: StoredObject, audio_missing: Callable[[Manifest], str]
) -> StoredPair:
    """The columns the manifest fills, then the audio checked against it: Corrupt(`audio_missing(recorded)`)
    without the audio, Corrupt naming the first disagreement; else `retained_until`, and the pair is returned.

    Apart from fill_objects because the archive view refuses an object that is not a recording's in between,
    after showing its objects and before anything the manifest says."""
    recorded = Manifest.from_metadata(manifest.metadata)
    recorded_bytes = whole_number(recorded.audio_bytes)
    row.update(
        metadata_uri=manifest.uri,
        recorded_bytes="" if recorded_bytes is None else recorded_bytes,
        size_verified=recorded.audio_size_verified,
        recorded_crc32c=recorded.audio_crc32c,
        recorded_sha256=recorded.audio_sha256,
    )
    if audio is None:
        raise Corrupt(audio_missing(recorded))
    pair = StoredPair(audio, manifest)
    pair.check()
    row["retained_until"] = pair.retained_until() or ""
    return pair


def stored_pairs(archiver: Archiver, since: datetime, until: datetime) -> Iterator[tuple[str, dict[str, StoredObject]]]:
    """Each recording's objects under the window's day prefixes, one SID at a time, by extension."""
    for prefix in day_prefixes(archiver.settings.project_id, since, until):
        for base, group in by_recording(archiver.store.list_objects(prefix)):
            yield base.removeprefix(prefix), group


def in_window(group: dict[str, StoredObject], since: datetime, until: datetime) -> bool:
    """By the date SignalWire gave, kept on the audio object; a pair whose date cannot be read is shown."""
    for obj in group.values():
        try:
            return since < parse_date(obj.metadata.get("date-created")) < until
        except ValueError:
            continue
    return True


def _named_audio_missing(recorded: Manifest) -> str:
    return f"{recorded.audio_object[:200]} is missing, though its manifest records it"


def judge_pair(
    archiver: Archiver, row: dict[str, Any], sid: str, group: dict[str, StoredObject], read_bytes: bool
) -> None:
    """Fill a blank row of the `archive` view: the manifest and the audio it names, against each other."""
    manifest = group.get(MANIFEST_EXT)
    audio = audio_in(group)
    row.update(recording_sid=sid[:64], view="archive", status="archived")
    fill_objects(row, audio, manifest)
    if audio is not None:
        row["date_created"] = audio.metadata.get("date-created", "")[:64]
    try:
        if not is_sid(sid):
            raise Corrupt(f"an object under the archive's day prefix is not a recording's: {sid[:64]!r}")
        if manifest is None:
            raise Corrupt(f"{row['audio_uri']} has no manifest: an attempt that never completed")
        pair = fill_recorded(row, audio, manifest, _named_audio_missing)
        conclude(archiver, row, pair.audio.key, read_bytes)
    except Corrupt as exc:
        row.update(result="corrupt", detail=str(exc)[:500])
    except Exception as exc:
        row.update(result="failed", detail=f"{type(exc).__name__}: {str(exc)[:300]}")
    # SignalWire does not list it: a record of a verified delete of these very bytes says why.
    record = group.get(DELETION_EXT)
    deletion = Deletion.of(record) if record is not None else None
    row.update(signalwire_copy(False, deletion, str(row.get("recorded_sha256") or "")))


def archive_rows(
    archiver: Archiver,
    window: tuple[datetime, datetime],
    blank: Callable[[], dict[str, Any]],
    *,
    read_bytes: bool,
    pool: ThreadPoolExecutor,
    leave_out: SeenSids | None = None,
    ahead: int,
) -> Iterator[dict[str, Any]]:
    """A row (from `blank`) for every pair stored in the window, less those `leave_out` holds, in key order;
    at most `ahead` pairs are taken before their rows are used."""
    since, until = window

    def judged(pair: tuple[str, dict[str, StoredObject]]) -> dict[str, Any]:
        row = blank()
        judge_pair(archiver, row, pair[0], pair[1], read_bytes)
        return row

    pairs = (
        (sid, group)
        for sid, group in stored_pairs(archiver, since, until)
        if in_window(group, since, until) and (leave_out is None or sid not in leave_out)
    )
    try:
        yield from bounded_map(pool, judged, pairs, ahead)
    # The archive could not be listed: one failed row says so, the rest of the report stands.
    except Exception as exc:
        row = blank()
        row.update(view="archive", result="failed", detail=f"listing the archive failed: {type(exc).__name__}: {exc}")
        yield row
