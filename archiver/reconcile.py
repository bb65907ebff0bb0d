"""Make the archive complete and prove it: sweep a window of recordings, and verify what is stored."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from archiver.archive import Archiver, Outcome, audio_key_of, call_sid_of, check_agreement, retained_until
from archiver.archive_view import AHEAD_PER_WORKER, SeenSids, archive_rows, bounded_map, conclude
from archiver.config import is_sid
from archiver.errors import Corrupt, Unreachable
from archiver.inventory import Archived, Inventory
from archiver.listing import created_of, judge, owed_after, plan
from archiver.progress import Pass, Progress, Window
from archiver.proof import Deletion, deletion_key, signalwire_copy
from archiver.recordings import FINAL_WITH_AUDIO, KNOWN_STATUSES, NO_AUDIO, whole_number
from archiver.signalwire import RecordingSource
from archiver.sweep_report import SweepReport, failure

# SignalWire's dates have whole seconds: a window that must include a recording's second ends one second later.
_SECOND = timedelta(seconds=1)


class Enqueue(Protocol):
    """Queued mode: hands one recording to Cloud Tasks (`TaskQueue.enqueue`)."""

    def __call__(self, sid: str, *, source: str, date_created: str | None = None, api: str = "laml") -> Outcome: ...


def parse_when(value: str) -> datetime:
    """An ISO 8601 date or date-time; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _listed_archive(inventory: Inventory, recording: dict[str, Any]) -> Archived | None:
    """The archive the listings show for a final recording with a valid SID and date; None otherwise."""
    sid = str(recording.get("sid") or "")
    status = str(recording.get("status") or "").lower()
    created = created_of(recording)
    if status not in FINAL_WITH_AUDIO or not is_sid(sid) or created is None:
        return None
    return inventory.archived(sid, created)


class _Actions:
    """The one place the sweep acts on a recording, once the listings have said what needs acting on.

    `archive` receives every recording the archive's listings do not show complete and agreeing, every
    final one when deleting, and those with work of their own (see `_unfinished`): it archives inline,
    `concurrency` at a time, or in queued mode hands what is missing to `enqueue`; the follow-ups on
    what is archived are done inline in both modes, since they fetch no audio.
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
            report.corrupt.append(failure(outcome.recording_sid, outcome.error or "corrupt"))
        elif outcome.outcome == "already_archived":
            report.already_archived += 1
        elif outcome.outcome == "queued":
            report.queued.append(outcome.recording_sid)
        elif outcome.outcome == "already_queued":
            report.already_queued += 1
        elif outcome.outcome == "no_audio":
            report.skip(outcome.recording_status or "")
        else:
            report.failed.append(failure(outcome.recording_sid, outcome.error or outcome.outcome))
        if outcome.deleted:
            report.deleted += 1
        if outcome.ok and outcome.repaired is not None:
            report.repaired.append(outcome.recording_sid)
        if outcome.repair_incomplete is not None:
            report.repair_incomplete.append(failure(outcome.recording_sid, outcome.repair_incomplete))

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

    def archive(self, sid: str, recording: dict[str, Any], *, follow_up: bool = False) -> None:
        """Archive (or queue) a recording; `follow_up`: it is archived, only its own work is left, done here."""
        if self.dry_run:
            _plan(self.archiver, sid, recording, self.report)
            return
        if self.enqueue is not None and not follow_up:
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
    resume: Progress | None = None,
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

    Each API is listed on its own (a failure in one is reported and the other is still listed), LaML
    first: its list is filtered by date and newest first, so its cost follows the window's recordings,
    while the RELAY list is unfiltered and its cost follows the account's whole history; read first, it
    could take every run's time (docs/operations.md). `resume` is what earlier runs left: swept first.
    The deadline is checked before every page and every row; new work stops once less than one retry
    budget is left, so whatever is in flight can finish. A newest-first list cut short leaves the
    window from its start to the newest recording not started; the RELAY list leaves its window with
    the link of the page to read next (`report.owed`). With `enqueue`, what is missing becomes a Cloud
    Task instead of being archived here; follow-up work on what is archived (delete, retention, a size
    to confirm) is done here in either mode.
    """
    stop_at = time.monotonic() + max(0.0, deadline_s - archiver.settings.retry_budget_s)
    resume = resume or Progress()
    report = SweepReport(since, until, resumed=resume.pending)
    settings = archiver.settings
    inventory = Inventory(archiver.store, settings.project_id)
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
        lister = _Lister(
            archiver,
            inventory,
            actions,
            stop_at,
            wants_delete=settings.delete_after_archive if delete is None else delete,
            wants_retention=bool(settings.object_retention_days),
            on_listed=on_listed,
            page_size=page_size,
        )
        for api in _sources(archiver):
            report.owed[api.name] = lister.sweep_api(api, plan(resume.owed_by(api.name), since, until))
        actions.finish()
    report.archive_listings = inventory.listed_days
    report.unlisted_days = inventory.unlisted
    return report


def _sources(archiver: Archiver) -> list[RecordingSource]:
    """The configured APIs, newest-first lists (LaML's, filtered by date) first: see sweep()."""
    return sorted(archiver.sources.values(), key=lambda source: not source.newest_first)


def _unfinished(archived: Archived, wants_retention: bool, repair: bool) -> bool:
    """An archive that agrees with its manifest but still has work of its own in archive(): retention to set
    (only on a size SignalWire announced), or, with `repair`, a size to ask SignalWire for once more or a name
    chosen before formats came from the bytes, to check."""
    if repair and not archived.format_from_bytes:
        return True
    if not archived.size_verified:
        return repair
    return wants_retention and archived.retained_until is None


class _Lister:
    """Lists each API's owed passes page by page under the sweep's deadline, handing rows to `_Actions`."""

    def __init__(
        self,
        archiver: Archiver,
        inventory: Inventory,
        actions: _Actions,
        stop_at: float,
        *,
        wants_delete: bool,
        wants_retention: bool,
        on_listed: Callable[[dict[str, Any]], None],
        page_size: int,
    ) -> None:
        self.archiver = archiver
        self.inventory = inventory
        self.actions = actions
        self.report = actions.report
        self.stop_at = stop_at
        self.wants_delete = wants_delete
        self.wants_retention = wants_retention
        self.on_listed = on_listed
        self.page_size = page_size

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.stop_at

    def sweep_api(self, source: RecordingSource, passes: list[Pass]) -> list[Pass]:
        """List the passes in order; what is still owed after the first one cut short or failed."""
        for index, owed in enumerate(passes):
            left = owed if self.out_of_time() else self._sweep_pass(source, owed)
            if left is not None:
                return owed_after(left, passes[index + 1 :])
        return []

    def _sweep_pass(self, source: RecordingSource, owed: Pass) -> Pass | None:
        """One listing of `owed.window`; None when read to its end, else what is left of it."""
        report, window = self.report, owed.window
        # The page being read, as a link to resume from (None: the listing's first page).
        current = owed.next
        oldest: datetime | None = None
        pages = source.recording_pages(window.since, window.until, self.archiver.policy, self.page_size, current)
        try:
            for page in pages:
                judged = judge(page.rows, window)
                report.outside_window += judged.outside
                left = self._rows(judged.rows, window)
                if left is not None:
                    return Pass(Window(window.since, left)) if source.newest_first else Pass(window, current)
                dated = [c for r in judged.rows if (c := created_of(r)) is not None]
                oldest = min([*dated, oldest] if oldest else dated, default=None)
                if judged.older and source.newest_first:
                    return None
                current = page.next
                if current is not None and self.out_of_time():
                    # Checked per page too: a page with no row in the window never reaches the row check.
                    if source.newest_first:
                        return Pass(Window(window.since, oldest + _SECOND) if oldest else window)
                    return Pass(window, current)
        # Whatever ends a listing, what it listed is still acted on (and audited) and the failure reported;
        # the next run lists what is left afresh (an expired page token is never reused).
        except Exception as exc:
            report.failed.append(failure("", f"listing recordings failed ({source.name}): {exc}"))
            return Pass(Window(window.since, oldest + _SECOND) if oldest and source.newest_first else window)
        finally:
            pages.close()
        return None

    def _rows(self, rows: list[dict[str, Any]], window: Window) -> datetime | None:
        """Act on a page's rows; None when all were started, else the (exclusive) end of what is left."""
        report = self.report
        newest_left: datetime | None = None
        for recording in rows:
            report.listed += 1
            self.on_listed(recording)
            sid = str(recording.get("sid") or "")
            # Bounded: a status is a report's key, and a lying list could send a million of any size.
            status = str(recording.get("status") or "").lower()[:32]
            created = created_of(recording)
            if not is_sid(sid):
                report.failed.append(failure(sid, "listing returned a malformed SID"))
                continue
            if status not in FINAL_WITH_AUDIO:
                report.skip(status)
                continue
            late = newest_left is not None
            archived = self.inventory.archived(sid, created) if created is not None and not late else None
            needs_work = (
                archived is None
                or self.wants_delete
                or _unfinished(archived, self.wants_retention, self.actions.repair)
            )
            if needs_work and not late:
                self.actions.make_room()
            if late or self.out_of_time():
                report.remaining.append(sid)
                # A recording without a readable date could be anywhere: leave the whole window.
                left = window.until if created is None else created + _SECOND
                newest_left = left if newest_left is None else max(newest_left, left)
                continue
            if archived is not None and not needs_work:
                self.actions.already_archived(sid, recording, archived)
            else:
                self.actions.archive(sid, recording, follow_up=archived is not None)
        return newest_left


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
        report.corrupt.append(failure(sid, str(exc)))
    except ValueError as exc:
        report.failed.append(failure(sid, f"ValueError: {exc}"))


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


def blank_row() -> dict[str, Any]:
    """A report row with every column empty."""
    return {column: "" for column in VERIFY_COLUMNS}


def _listing_failed(api: str, exc: Exception) -> dict[str, Any]:
    row = blank_row()
    row.update(view="signalwire", result="failed", detail=f"listing recordings failed ({api}): {str(exc)[:500]}")
    return row


def _listed(archiver: Archiver, window: Window, page_size: int, seen: SeenSids) -> Iterator[dict[str, Any]]:
    """Every row SignalWire lists in the window, each API on its own, judged against the window on our side;
    a listing that fails is a `failed` row of its own (marked `listing_failed`) and the next API is listed."""
    for source in _sources(archiver):
        try:
            for page in source.recording_pages(window.since, window.until, archiver.policy, page_size):
                judged = judge(page.rows, window)
                for recording in judged.rows:
                    seen.add(str(recording.get("sid") or ""))
                    yield recording
                if judged.older and source.newest_first:
                    break
        # A space that cannot be reached at all is a configuration error, the same for every API: said once.
        except Unreachable:
            raise
        except Exception as exc:
            yield {"listing_failed": _listing_failed(source.name, exc)}


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
    """Rows (VERIFY_COLUMNS) in two views, streamed: memory follows a day of the archive, not the window.

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
            # The inventory is asked here, in listing order, by one thread: it holds one day at a time.
            listed = _listed(archiver, Window(since, until), page_size, seen)
            yield from bounded_map(pool, row_of, ((r, _listed_archive(inventory, r)) for r in listed), ahead)
        if "archive" in views:
            leave_out = seen if "signalwire" in views else None
            yield from archive_rows(
                archiver, (since, until), blank_row, read_bytes=read_bytes, pool=pool, leave_out=leave_out, ahead=ahead
            )
