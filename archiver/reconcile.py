"""Make the archive complete and prove it: sweep a window of recordings, and verify what is stored."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from archiver.archive import Archiver, Outcome, audio_key_of, call_sid_of, check_agreement, retained_until
from archiver.audioformat import SNIFF_BYTES
from archiver.config import is_sid
from archiver.errors import Corrupt
from archiver.inventory import Archived, Inventory
from archiver.misnamed import extension, wrong_name
from archiver.progress import Window
from archiver.proof import Deletion, deletion_key, signalwire_copy
from archiver.signalwire import (
    FINAL_WITH_AUDIO,
    KNOWN_STATUSES,
    NO_AUDIO,
    RecordingSource,
    parse_date,
    whole_number,
)
from archiver.storage import crc32c_of

# SignalWire's dates have whole seconds: a window that must include a recording's second ends one second later.
_SECOND = timedelta(seconds=1)


@dataclass
class SweepReport:
    """What one sweep or backfill did; `failed` and `remaining` name recordings, the rest count them.

    `resumed` is the window an earlier run left and this one swept first; `resume_next` is what this
    run leaves for the next (None: nothing). `archive_listings` counts the day prefixes listed;
    `unlisted_days` names those whose listing failed, whose recordings were then checked one by one.
    """

    since: datetime
    until: datetime
    listed: int = 0
    archived: list[str] = field(default_factory=list)
    already_archived: int = 0
    queued: list[str] = field(default_factory=list)
    already_queued: int = 0
    would_archive: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    # Status words no documentation lists, by word (they are in `skipped` too): each is a WARNING.
    unknown_statuses: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, str]] = field(default_factory=list)
    corrupt: list[dict[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    # What a repair could not finish (a renamed archive's old object that retention keeps), and why.
    repair_incomplete: list[dict[str, str]] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    deleted: int = 0
    bytes: int = 0
    resumed: Window | None = None
    resume_next: Window | None = None
    archive_listings: int = 0
    unlisted_days: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.corrupt

    def summary(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "listed": self.listed,
            "archived": len(self.archived),
            "archived_sids": self.archived,
            "already_archived": self.already_archived,
            "queued": len(self.queued),
            "already_queued": self.already_queued,
            "would_archive": self.would_archive,
            "skipped": dict(self.skipped),
            "unknown_statuses": dict(self.unknown_statuses),
            "failed": self.failed,
            "corrupt": self.corrupt,
            "repaired": self.repaired,
            "repair_incomplete": self.repair_incomplete,
            "remaining": self.remaining,
            "resumed": self.resumed.as_dict() if self.resumed else None,
            "resume_next": self.resume_next.as_dict() if self.resume_next else None,
            "deleted": self.deleted,
            "bytes": self.bytes,
            "archive_listings": self.archive_listings,
            "unlisted_days": self.unlisted_days,
        }


class Enqueue(Protocol):
    """Queued mode: hands one recording to Cloud Tasks (`TaskQueue.enqueue`)."""

    def __call__(self, sid: str, *, source: str, date_created: str | None = None, api: str = "laml") -> Outcome: ...


def parse_when(value: str) -> datetime:
    """An ISO 8601 date or date-time; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _created(recording: dict[str, Any]) -> datetime | None:
    try:
        return parse_date(recording.get("date_created"))
    except ValueError:
        return None


def _listed_archive(inventory: Inventory, recording: dict[str, Any]) -> Archived | None:
    """The archive the listings show for a final recording with a valid SID and date; None otherwise."""
    sid = str(recording.get("sid") or "")
    status = str(recording.get("status") or "").lower()
    created = _created(recording)
    if status not in FINAL_WITH_AUDIO or not is_sid(sid) or created is None:
        return None
    return inventory.archived(sid, created)


# Distinct status words a report names; the rest are counted under one key, so a listing that invents a word
# per recording cannot swell the sweep's line past what Cloud Logging keeps (256 KB: it would drop it whole).
_WORDS_MAX = 50
_OTHER_WORDS = "(other words)"


def _count_word(counter: Counter[str], word: str) -> None:
    counter[word if word in counter or len(counter) < _WORDS_MAX else _OTHER_WORDS] += 1


def _skip(report: SweepReport, status: str) -> None:
    """A listed recording without audio to archive yet; a word no documentation lists is counted apart."""
    _count_word(report.skipped, status or "no status")
    if status not in KNOWN_STATUSES:
        _count_word(report.unknown_statuses, status or "no status")


class _Actions:
    """The one place the sweep acts on a recording, once the listings have said what needs acting on.

    `archive` receives every recording the archive's listings do not show complete and agreeing (and,
    inline, every final one when deleting, and those with work of their own: see `_unfinished`): it
    archives inline, `concurrency` at a time, or in queued mode hands it to `enqueue`.
    """

    def __init__(
        self,
        archiver: Archiver,
        pool: ThreadPoolExecutor,
        report: SweepReport,
        on_outcome: Callable[[Outcome], None],
        *,
        concurrency: int,
        dry_run: bool,
        delete: bool | None,
        repair: bool,
        enqueue: Enqueue | None,
        source: str,
    ) -> None:
        self.archiver = archiver
        self.pool = pool
        self.report = report
        self.on_outcome = on_outcome
        self.concurrency = concurrency
        self.dry_run = dry_run
        self.delete = delete
        self.repair = repair
        self.enqueue = enqueue
        self.source = source
        self.pending: set[Future[Outcome]] = set()

    def record(self, outcome: Outcome) -> None:
        report = self.report
        self.on_outcome(outcome)
        if outcome.outcome == "archived":
            report.archived.append(outcome.recording_sid)
            report.bytes += outcome.bytes or 0
        elif outcome.outcome == "corrupt":
            report.corrupt.append({"sid": outcome.recording_sid, "error": outcome.error or "corrupt"})
        elif outcome.outcome == "already_archived":
            report.already_archived += 1
        elif outcome.outcome == "queued":
            report.queued.append(outcome.recording_sid)
        elif outcome.outcome == "already_queued":
            report.already_queued += 1
        elif outcome.outcome == "no_audio":
            report.skipped[outcome.recording_status or "no_audio"] += 1
        else:
            report.failed.append({"sid": outcome.recording_sid, "error": outcome.error or outcome.outcome})
        if outcome.extra.get("deleted"):
            report.deleted += 1
        if outcome.ok and "repaired" in outcome.extra:
            report.repaired.append(outcome.recording_sid)
        if "repair_incomplete" in outcome.extra:
            report.repair_incomplete.append({"sid": outcome.recording_sid, "error": outcome.extra["repair_incomplete"]})

    def already_archived(self, sid: str, recording: dict[str, Any], archived: Archived) -> None:
        """A recording the listings show archived: counted (and reported) without a request."""
        if self.dry_run:
            self.report.already_archived += 1
            return
        meta_key = self.archiver.keys_of(sid, recording)[1]
        audio_key = audio_key_of(meta_key, archived.fmt)
        store = self.archiver.store
        self.record(
            Outcome(
                "already_archived",
                recording_sid=sid,
                account_sid=self.archiver.settings.project_id,
                call_sid=call_sid_of(recording),
                recording_status=str(recording.get("status") or "").lower()[:32],
                audio_uri=store.uri(audio_key),
                metadata_uri=store.uri(meta_key),
                bytes=archived.size,
                crc32c=archived.crc32c,
                sha256=archived.sha256,
                generation=archived.generation,
                size_verified=archived.size_verified,
                retained_until=archived.retained_until,
            )
        )

    def make_room(self) -> None:
        while len(self.pending) >= self.concurrency:
            self._collect(wait(self.pending, return_when=FIRST_COMPLETED).done)

    def archive(self, sid: str, recording: dict[str, Any]) -> None:
        if self.dry_run:
            _plan(self.archiver, sid, recording, self.report)
            return
        if self.enqueue is not None:
            self.pending.add(
                self.pool.submit(_enqueue_missing, self.archiver, sid, recording, self.enqueue, self.source)
            )
            return
        self.pending.add(
            self.pool.submit(self.archiver.archive, sid, recording, delete=self.delete, repair=self.repair)
        )

    def finish(self) -> None:
        while self.pending:
            self._collect(wait(self.pending, return_when=FIRST_COMPLETED).done)

    def _collect(self, done: set[Future[Outcome]]) -> None:
        for future in done:
            self.pending.discard(future)
            self.record(future.result())


def _windows(since: datetime, until: datetime, resume: Window | None) -> list[Window]:
    """The resumed window first, then the new one, less what the resumed one already covers."""
    if resume is None:
        return [Window(since, until)]
    if resume.since <= since:
        # The resumed window's last whole second is `until` minus one: the new one starts after it.
        since = max(since, resume.until - _SECOND)
    return [resume] + ([Window(since, until)] if since < until else [])


def sweep(
    archiver: Archiver,
    since: datetime,
    until: datetime,
    *,
    concurrency: int,
    deadline_s: float,
    dry_run: bool = False,
    delete: bool | None = None,
    repair: bool = False,
    on_outcome: Callable[[Outcome], None] = lambda _outcome: None,
    on_listed: Callable[[dict[str, Any]], None] = lambda _recording: None,
    page_size: int = 1000,
    resume: Window | None = None,
    enqueue: Enqueue | None = None,
    source: str = "sweep",
) -> SweepReport:
    """Archive every final recording of the window not archived yet, without passing `deadline_s`.

    What is archived is learned from one listing per day prefix of the archive (Inventory), so a
    window that is all archived costs list requests, not a request per recording; only what those
    listings do not show complete and agreeing goes to `_Actions.archive`, which looks again, one
    recording at a time, and finds missing, corrupt and half-written archives exactly as a callback
    would. A listed row that is not a recording (a malformed SID) is a failed row; the rest goes on.
    `repair` rewrites archives that disagree with their manifests instead of only reporting them.

    `resume` is a window an earlier run left undone: it is swept first. New work stops once less
    than one retry budget is left before the deadline, so whatever is in flight can finish; the rest
    of the current page is reported as `remaining`, listing stops, and `resume_next` is the window
    the next run must sweep first: from the interrupted window's start to the newest recording not
    started (SignalWire lists newest first, so everything older is in it). With `enqueue`, what is
    missing becomes a Cloud Task instead of being archived here.
    """
    stop_at = time.monotonic() + max(0.0, deadline_s - archiver.settings.retry_budget_s)
    report = SweepReport(since, until, resumed=resume)
    settings = archiver.settings
    inventory = Inventory(archiver.store, settings.project_id)
    # Queued mode hands over only what is missing (_enqueue_missing): deleting and completing retention
    # of archived recordings is work the inline mode does.
    wants_delete = (settings.delete_after_archive if delete is None else delete) and enqueue is None
    wants_retention = bool(settings.object_retention_days) and enqueue is None
    windows = _windows(since, until, resume)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep") as pool:
        actions = _Actions(
            archiver,
            pool,
            report,
            on_outcome,
            concurrency=concurrency,
            dry_run=dry_run,
            delete=delete,
            repair=repair,
            enqueue=enqueue,
            source=source,
        )
        for index, window in enumerate(windows):
            left_until = _sweep_window(
                archiver,
                window,
                inventory,
                actions,
                stop_at,
                wants_delete=wants_delete,
                wants_retention=wants_retention,
                repair=repair and enqueue is None,
                on_listed=on_listed,
                page_size=page_size,
            )
            if left_until is not None:
                # Windows not started yet are newer: the one left behind reaches up to the last of them.
                report.resume_next = Window(window.since, windows[-1].until if index < len(windows) - 1 else left_until)
                break
        actions.finish()
    report.archive_listings = inventory.listed_days
    report.unlisted_days = inventory.unlisted
    return report


def _sources(archiver: Archiver) -> list[RecordingSource]:
    """The configured APIs, those whose list has no documented order first: a sweep cut short can then
    resume mid-window only in a newest-first list (LaML's), read last."""
    return sorted(archiver.sources.values(), key=lambda source: source.newest_first)


def _sweep_window(
    archiver: Archiver,
    window: Window,
    inventory: Inventory,
    actions: _Actions,
    stop_at: float,
    *,
    wants_delete: bool,
    wants_retention: bool,
    repair: bool,
    on_listed: Callable[[dict[str, Any]], None],
    page_size: int,
) -> datetime | None:
    """Sweep one window; None when every list was read to the end, else the (exclusive) end of what is left."""
    sources = _sources(archiver)
    for position, source in enumerate(sources):
        left = _sweep_source(
            archiver,
            source,
            window,
            inventory,
            actions,
            stop_at,
            wants_delete=wants_delete,
            wants_retention=wants_retention,
            repair=repair,
            on_listed=on_listed,
            page_size=page_size,
        )
        if left is not None:
            # Older recordings are all after the cut only in a newest-first list with no list after it.
            return left if source.newest_first and position == len(sources) - 1 else window.until
    return None


def _unfinished(archived: Archived, wants_retention: bool, repair: bool) -> bool:
    """An archive that agrees with its manifest but still has work of its own in archive(): retention to set
    (only on a size SignalWire announced), or, with `repair`, a size to ask SignalWire for once more or a name
    chosen before formats came from the bytes, to check."""
    if repair and not archived.format_from_bytes:
        return True
    if not archived.size_verified:
        return repair
    return wants_retention and archived.retained_until is None


def _sweep_source(
    archiver: Archiver,
    source: RecordingSource,
    window: Window,
    inventory: Inventory,
    actions: _Actions,
    stop_at: float,
    *,
    wants_delete: bool,
    wants_retention: bool,
    repair: bool,
    on_listed: Callable[[dict[str, Any]], None],
    page_size: int,
) -> datetime | None:
    """One API's list of the window; None when read to the end, else where it was cut (if newest first)."""
    report = actions.report
    oldest: datetime | None = None
    try:
        for page in source.recording_pages(window.since, window.until, archiver.policy, page_size):
            newest_left: datetime | None = None
            out_of_time = False
            for recording in page:
                report.listed += 1
                on_listed(recording)
                sid = str(recording.get("sid") or "")
                # Bounded: a status is a report's key, and a lying list could send a million of any size.
                status = str(recording.get("status") or "").lower()[:32]
                created = _created(recording)
                if not is_sid(sid):
                    report.failed.append({"sid": sid[:64], "error": "listing returned a malformed SID"})
                    continue
                if status not in FINAL_WITH_AUDIO:
                    _skip(report, status)
                    continue
                archived = inventory.archived(sid, created) if created is not None and not out_of_time else None
                needs_work = archived is None or wants_delete or _unfinished(archived, wants_retention, repair)
                if needs_work and not out_of_time:
                    actions.make_room()
                out_of_time = out_of_time or time.monotonic() >= stop_at
                if out_of_time:
                    report.remaining.append(sid)
                    # A recording without a readable date could be anywhere: leave the whole window.
                    left = window.until if created is None else created + _SECOND
                    newest_left = left if newest_left is None else max(newest_left, left)
                    continue
                if archived is not None and not needs_work:
                    actions.already_archived(sid, recording, archived)
                else:
                    actions.archive(sid, recording)
                if created is not None:
                    oldest = min(oldest, created) if oldest else created
            if out_of_time:
                return newest_left
    # Whatever ends a listing, what it listed is still acted on (and audited) and the failure reported.
    except Exception as exc:
        report.failed.append({"sid": "", "error": f"listing recordings failed: {str(exc)[:500]}"})
        return oldest + _SECOND if oldest else window.until
    return None


def _enqueue_missing(archiver: Archiver, sid: str, recording: dict[str, Any], enqueue: Enqueue, source: str) -> Outcome:
    """Queued mode: look in the archive at the listed date; only a recording missing there becomes a task."""
    outcome = Outcome("failed", recording_sid=sid.lower(), account_sid=archiver.settings.project_id)
    try:
        if archiver.check_archived(outcome, archiver.keys_of(sid, recording)):
            return outcome
    # A bad listed date, a corrupt archive or a storage error ends this recording only, as inline.
    except Exception as exc:
        outcome.fail(exc)
        return outcome
    api = str(recording.get("api") or "laml")
    return enqueue(sid, source=source, date_created=str(recording["date_created"]), api=api)


def _plan(archiver: Archiver, sid: str, recording: dict[str, Any], report: SweepReport) -> None:
    """Dry run: look in the archive only; nothing is fetched, written or deleted."""
    outcome = Outcome("failed", recording_sid=sid, account_sid=archiver.settings.project_id)
    try:
        if archiver.check_archived(outcome, archiver.keys_of(sid, recording)):
            report.already_archived += 1
        else:
            report.would_archive.append(sid)
    except Corrupt as exc:
        report.corrupt.append({"sid": sid, "error": str(exc)})
    except ValueError as exc:
        report.failed.append({"sid": sid, "error": f"ValueError: {exc}"})


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
]
# Results that make `verify` exit 1; `unverified_size` is reported, and DELETE_AFTER_ARCHIVE never deletes it.
FAILING_RESULTS = frozenset({"missing", "corrupt", "failed"})


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
    row.update(recording_sid=sid, date_created=str(recording.get("date_created") or "")[:64], status=status)
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
            _conclude(archiver, row, audio_key, read_bytes)
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
        audio_key = archiver.recorded_audio_key((audio_key, meta_key), manifest)
        row["audio_uri"] = archiver.store.uri(audio_key)
    audio = archiver.store.stat(audio_key)
    row["metadata_present"] = manifest is not None
    row["held"] = any(obj is not None and obj.held for obj in (audio, manifest))
    if audio is not None:
        row.update(audio_bytes=audio.size, audio_crc32c=audio.crc32c)
    if manifest is None:
        # No manifest means never completed: whatever audio is there is an unfinished attempt.
        row.update(result="missing", detail=f"not archived: {row['metadata_uri']}")
        return audio_key
    recorded = manifest.metadata
    recorded_bytes = whole_number(recorded.get("audio-bytes", ""))
    row.update(
        recorded_bytes="" if recorded_bytes is None else recorded_bytes,
        size_verified=recorded.get("audio-size-verified") == "true",
        recorded_crc32c=recorded.get("audio-crc32c", ""),
        recorded_sha256=recorded.get("audio-sha256", ""),
    )
    if audio is None:
        raise Corrupt(f"{row['audio_uri']} is missing, though its manifest records it as archived")
    check_agreement(audio, manifest)
    row["retained_until"] = retained_until(audio, manifest) or ""
    return audio_key


def _conclude(archiver: Archiver, row: dict[str, Any], audio_key: str, read_bytes: bool) -> None:
    """An archive that agrees with its manifest: read its bytes back if asked, then `ok`, `unverified_size`
    or `not_retained`."""
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


def verify(
    archiver: Archiver,
    since: datetime,
    until: datetime,
    *,
    read_bytes: bool = True,
    concurrency: int = 4,
    page_size: int = 1000,
) -> Iterator[dict[str, Any]]:
    """A row for every recording SignalWire lists in the window, in listing order.

    What is archived comes from listings of the archive's day prefixes; only recordings those do not
    show complete and agreeing are read one by one (and, with `read_bytes`, every stored byte is).
    """
    settings = archiver.settings
    inventory = Inventory(archiver.store, settings.project_id)
    pages = (
        page
        for source in _sources(archiver)
        for page in source.recording_pages(since, until, archiver.policy, page_size)
    )
    # Looked up here, in listing order, so the inventory holds one day at a time.
    looked_up = ((recording, _listed_archive(inventory, recording)) for page in pages for recording in page)
    # Not pool.map: it submits every item at once, so the whole listing and every row would be held.
    ahead: deque[Future[dict[str, Any]]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify") as pool:
        for recording, archived in looked_up:
            ahead.append(pool.submit(verify_one, archiver, recording, read_bytes=read_bytes, archived=archived))
            if len(ahead) > 2 * concurrency:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
