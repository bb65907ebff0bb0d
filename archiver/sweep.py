"""The sweep: `SweepOptions`, and a `Sweep` run that archives every final recording of a window not archived yet."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from archiver.archive import Archiver, call_sid_of
from archiver.config import is_sid
from archiver.errors import Corrupt
from archiver.inventory import Archived, Inventory
from archiver.layout import audio_key_of
from archiver.listing import created_of, judge, listing_order, owed_after, plan
from archiver.outcome import Outcome
from archiver.progress import Pass, Progress, Window
from archiver.recordings import FINAL_WITH_AUDIO, Api
from archiver.signalwire import RecordingSource
from archiver.sweep_report import SweepReport, failure

# SignalWire's dates have whole seconds: a window that must include a recording's second ends one second later.
_SECOND = timedelta(seconds=1)


class Enqueue(Protocol):
    """Queued mode: hands one recording to Cloud Tasks (`TaskQueue.enqueue`)."""

    def __call__(self, sid: str, *, source: str, date_created: str | None = None, api: str = Api.LAML) -> Outcome: ...


def parse_when(value: str) -> datetime:
    """An ISO 8601 date or date-time; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class SweepOptions:
    """How one sweep runs, fixed for the run: workers, deadline, what to do and whom to tell."""

    concurrency: int
    deadline_s: float
    dry_run: bool = False
    # None: as DELETE_AFTER_ARCHIVE says.
    delete: bool | None = None
    repair: bool = False
    on_outcome: Callable[[Outcome], None] = lambda _outcome: None
    on_listed: Callable[[dict[str, Any]], None] = lambda _recording: None
    page_size: int = 1000
    # Queued mode: what is missing becomes a Cloud Task instead of being archived here.
    enqueue: Enqueue | None = None
    source: str = "sweep"


def sweep(
    archiver: Archiver, since: datetime, until: datetime, *, resume: Progress | None = None, **options: Any
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
    return Sweep(archiver, SweepOptions(**options), Window(since, until), resume or Progress()).run()


class _Actions:
    """The one place the sweep acts on a recording, once the listings have said what needs acting on.

    `archive` receives every recording the archive's listings do not show complete and agreeing, every
    final one when deleting, and those with work of their own (see `_unfinished`): it archives inline,
    `options.concurrency` at a time, or in queued mode hands what is missing to `options.enqueue`; the follow-ups on
    what is archived are done inline in both modes, since they fetch no audio.
    """

    def __init__(
        self, archiver: Archiver, pool: ThreadPoolExecutor, report: SweepReport, options: SweepOptions
    ) -> None:
        self.archiver = archiver
        self.pool = pool
        self.report = report
        self.options = options
        self.pending: set[Future[Outcome]] = set()

    def record(self, outcome: Outcome) -> None:
        report = self.report
        self.options.on_outcome(outcome)
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
        if self.options.dry_run:
            self.report.already_archived += 1
            return
        meta_key = self.archiver.keys_of(sid, recording).manifest
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
                **archived.figures(),
            )
        )

    def make_room(self) -> None:
        while len(self.pending) >= self.options.concurrency:
            self._collect(wait(self.pending, return_when=FIRST_COMPLETED).done)

    def archive(self, sid: str, recording: dict[str, Any], *, follow_up: bool = False) -> None:
        """Archive (or queue) a recording; `follow_up`: it is archived, only its own work is left, done here."""
        if self.options.dry_run:
            _plan(self.archiver, sid, recording, self.report)
            return
        if self.options.enqueue is not None and not follow_up:
            self.pending.add(
                self.pool.submit(
                    _enqueue_missing, self.archiver, sid, recording, self.options.enqueue, self.options.source
                )
            )
            return
        self.pending.add(
            self.pool.submit(
                self.archiver.archive, sid, recording, delete=self.options.delete, repair=self.options.repair
            )
        )

    def finish(self) -> None:
        while self.pending:
            self._collect(wait(self.pending, return_when=FIRST_COMPLETED).done)

    def _collect(self, done: set[Future[Outcome]]) -> None:
        for future in done:
            self.pending.discard(future)
            self.record(future.result())


def _unfinished(archived: Archived, wants_retention: bool, repair: bool) -> bool:
    """An archive that agrees with its manifest but still has work of its own in archive(): retention to set
    (only on a size SignalWire announced), or, with `repair`, a size to ask SignalWire for once more or a name
    chosen before formats came from the bytes, to check."""
    if repair and not archived.format_from_bytes:
        return True
    if not archived.size_verified:
        return repair
    return wants_retention and archived.retained_until is None


class Sweep:
    """One run of the sweep: lists each API's owed passes page by page under the deadline, handing rows to `_Actions`.

    Built once per run; the archive's inventory, the report and the actions live as long as the run.
    """

    def __init__(self, archiver: Archiver, options: SweepOptions, window: Window, resume: Progress) -> None:
        settings = archiver.settings
        self.archiver = archiver
        self.options = options
        self.window = window
        self.resume = resume
        # New work stops once less than one retry budget is left, so whatever is in flight can finish.
        self.stop_at = time.monotonic() + max(0.0, options.deadline_s - settings.retry_budget_s)
        self.report = SweepReport(window.since, window.until, resumed=resume.pending)
        self.inventory = Inventory(archiver.store, settings.project_id)
        self.pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="sweep")
        self.actions = _Actions(archiver, self.pool, self.report, options)
        self.wants_delete = settings.delete_after_archive if options.delete is None else options.delete
        self.wants_retention = bool(settings.object_retention_days)

    def run(self) -> SweepReport:
        """Sweep each API's owed passes, resumed ones first, then wait for what is in flight."""
        since, until = self.window.since, self.window.until
        with self.pool:
            for api in listing_order(self.archiver.sources.values()):
                self.report.owed[api.name] = self.sweep_api(api, plan(self.resume.owed_by(api.name), since, until))
            self.actions.finish()
        self.report.archive_listings = self.inventory.listed_days
        self.report.unlisted_days = self.inventory.unlisted
        return self.report

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
        pages = source.recording_pages(
            window.since, window.until, self.archiver.policy, self.options.page_size, current
        )
        try:
            for page in pages:
                judged = judge(page.rows, window)
                report.outside_window += judged.outside
                left = self._rows(judged.rows, window, source.newest_first)
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

    def _rows(self, rows: list[dict[str, Any]], window: Window, newest_first: bool) -> datetime | None:
        """Act on a page's rows; None when all were started, else the (exclusive) end of what is left."""
        report = self.report
        newest_left: datetime | None = None
        for recording in rows:
            report.listed += 1
            self.options.on_listed(recording)
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
            archived = None
            if created is not None and not late:
                archived = self.inventory.archived(sid, created, newest_first=newest_first)
            needs_work = (
                archived is None
                or self.wants_delete
                or _unfinished(archived, self.wants_retention, self.options.repair)
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
        look = archiver.lookup.read(archiver.keys_of(sid, recording))
    # A bad listed date or a storage error ends this recording only, as inline.
    except Exception as exc:
        return outcome.failed(exc)
    if look.corrupt is not None:
        return replace(outcome, **look.fields()).failed(look.corrupt)
    if look.pair is not None:
        return replace(outcome, outcome="already_archived", **look.fields())
    api = str(recording.get("api") or Api.LAML)
    return enqueue(sid, source=source, date_created=str(recording["date_created"]), api=api)


def _plan(archiver: Archiver, sid: str, recording: dict[str, Any], report: SweepReport) -> None:
    """Dry run: look in the archive only; nothing is fetched, written or deleted."""
    try:
        if archiver.check_archived(archiver.keys_of(sid, recording)) is not None:
            report.already_archived += 1
        else:
            report.would_archive.append(sid)
    except Corrupt as exc:
        report.corrupt.append(failure(sid, str(exc)))
    except ValueError as exc:
        report.failed.append(failure(sid, f"ValueError: {exc}"))
