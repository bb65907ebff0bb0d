"""Make the archive complete and prove it: sweep a window of recordings, and verify what is stored."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from archiver.archive import Archiver, Outcome, check_agreement
from archiver.config import is_sid
from archiver.signalwire import FINAL_WITH_AUDIO, Attempts, SignalWireError
from archiver.storage import IntegrityError, crc32c_of


@dataclass
class SweepReport:
    """What one sweep or backfill did; `failed` and `remaining` name recordings, the rest count them."""

    since: datetime
    until: datetime
    listed: int = 0
    archived: list[str] = field(default_factory=list)
    already_archived: int = 0
    queued: list[str] = field(default_factory=list)
    already_queued: int = 0
    would_archive: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, str]] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    deleted: int = 0
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

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
            "failed": self.failed,
            "remaining": self.remaining,
            "deleted": self.deleted,
            "bytes": self.bytes,
        }


class Enqueue(Protocol):
    """Queued mode: hands one recording to Cloud Tasks (`TaskQueue.enqueue`)."""

    def __call__(self, sid: str, *, source: str, date_created: str | None = None) -> Outcome: ...


def parse_when(value: str) -> datetime:
    """An ISO 8601 date or date-time; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def listed_recordings(
    archiver: Archiver, since: datetime, until: datetime, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """The window's recordings, as SignalWire lists them, retried like any other request."""
    return archiver.client.list_recordings(since, until, Attempts(), archiver.policy, page_size)


def sweep(
    archiver: Archiver,
    since: datetime,
    until: datetime,
    *,
    concurrency: int,
    deadline_s: float,
    dry_run: bool = False,
    delete: bool | None = None,
    on_outcome: Callable[[Outcome], None] = lambda _outcome: None,
    on_listed: Callable[[dict[str, Any]], None] = lambda _recording: None,
    page_size: int = 1000,
    enqueue: Enqueue | None = None,
    source: str = "sweep",
) -> SweepReport:
    """Archive every final recording of the window not archived yet, without passing `deadline_s`.

    New work stops once less than one retry budget is left before the deadline, so whatever is in
    flight can finish; the recordings not started are reported as `remaining`. With `enqueue`, what
    is missing becomes a Cloud Task instead of being archived here.
    """
    started = time.monotonic()
    stop_at = started + max(0.0, deadline_s - archiver.settings.retry_budget_s)
    report = SweepReport(since, until)
    pending: set[Future[Outcome]] = set()

    def collect(done: set[Future[Outcome]]) -> None:
        for future in done:
            pending.discard(future)
            outcome = future.result()
            on_outcome(outcome)
            if outcome.outcome == "archived":
                report.archived.append(outcome.recording_sid)
                report.bytes += outcome.bytes or 0
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

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep") as pool:
        try:
            for recording in listed_recordings(archiver, since, until, page_size):
                report.listed += 1
                on_listed(recording)
                sid = str(recording.get("sid") or "")
                status = str(recording.get("status") or "").lower()
                if not is_sid(sid):
                    report.failed.append({"sid": sid[:64], "error": "listing returned a malformed SID"})
                    continue
                if status not in FINAL_WITH_AUDIO:
                    report.skipped[status or "no status"] += 1
                    continue
                while len(pending) >= concurrency:
                    collect(wait(pending, return_when=FIRST_COMPLETED).done)
                if time.monotonic() >= stop_at:
                    report.remaining.append(sid)
                    continue
                if dry_run:
                    _plan(archiver, sid, recording, report)
                    continue
                if enqueue is not None:
                    pending.add(pool.submit(_enqueue_missing, archiver, sid, recording, enqueue, source))
                    continue
                pending.add(pool.submit(archiver.archive, sid, recording, delete=delete))
        except SignalWireError as exc:
            # What was listed before the failure is still archived; the failure itself is reported.
            report.failed.append({"sid": "", "error": f"listing recordings failed: {exc}"})
        while pending:
            collect(wait(pending, return_when=FIRST_COMPLETED).done)
    return report


def _enqueue_missing(archiver: Archiver, sid: str, recording: dict[str, Any], enqueue: Enqueue, source: str) -> Outcome:
    """Queued mode: look in the archive at the listed date; only a recording missing there becomes a task."""
    outcome = Outcome("failed", recording_sid=sid.lower(), account_sid=archiver.settings.project_id)
    try:
        if archiver.check_archived(outcome, archiver.keys_of(sid, recording)):
            return outcome
    # A bad listed date or a storage error fails this recording only, as an inline archive would.
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome
    return enqueue(sid, source=source, date_created=str(recording["date_created"]))


def _plan(archiver: Archiver, sid: str, recording: dict[str, Any], report: SweepReport) -> None:
    """Dry run: look in the archive only; nothing is fetched, written or deleted."""
    outcome = Outcome("failed", recording_sid=sid, account_sid=archiver.settings.project_id)
    try:
        if archiver.check_archived(outcome, archiver.keys_of(sid, recording)):
            report.already_archived += 1
        else:
            report.would_archive.append(sid)
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
    "audio_crc32c",
    "recorded_crc32c",
    "recorded_sha256",
    "computed_sha256",
    "metadata_uri",
    "metadata_present",
]


def verify_one(archiver: Archiver, recording: dict[str, Any], *, read_bytes: bool) -> dict[str, Any]:
    """One row of the verification report: `ok`, `missing`, `mismatch`, `no_audio` or `not_final`."""
    sid = str(recording.get("sid") or "")
    status = str(recording.get("status") or "").lower()
    row: dict[str, Any] = {c: "" for c in VERIFY_COLUMNS}
    row.update(recording_sid=sid, date_created=recording.get("date_created") or "", status=status)
    if status not in FINAL_WITH_AUDIO:
        row["result"] = "no_audio" if status in ("absent", "failed") else "not_final"
        return row
    audio_key, meta_key = archiver.keys_of(sid, recording)
    row["audio_uri"] = archiver.store.uri(audio_key)
    row["metadata_uri"] = archiver.store.uri(meta_key)
    manifest = archiver.store.stat(meta_key)
    audio = archiver.store.stat(audio_key)
    row["metadata_present"] = manifest is not None
    if audio is not None:
        row.update(audio_bytes=audio.size, audio_crc32c=audio.crc32c)
    if manifest is not None:
        recorded = manifest.metadata
        row.update(
            recorded_bytes=recorded.get("audio-bytes", ""),
            recorded_crc32c=recorded.get("audio-crc32c", ""),
            recorded_sha256=recorded.get("audio-sha256", ""),
        )
    if manifest is None or audio is None:
        missing = [uri for uri, obj in ((row["audio_uri"], audio), (row["metadata_uri"], manifest)) if obj is None]
        row.update(result="missing", detail="not archived: " + ", ".join(missing))
        return row
    try:
        check_agreement(audio, manifest)
        if read_bytes:
            size, crc, sha = crc32c_of(archiver.store.iter_bytes(audio_key))
            row["computed_sha256"] = sha
            if (str(size), crc, sha) != (row["recorded_bytes"], row["recorded_crc32c"], row["recorded_sha256"]):
                raise IntegrityError(f"stored bytes read back as {size} bytes sha256 {sha}")
    except IntegrityError as exc:
        row.update(result="mismatch", detail=str(exc))
        return row
    row["result"] = "ok"
    return row


def verify(
    archiver: Archiver,
    since: datetime,
    until: datetime,
    *,
    read_bytes: bool = True,
    concurrency: int = 4,
    page_size: int = 1000,
) -> Iterator[dict[str, Any]]:
    """A row for every recording SignalWire lists in the window, in listing order."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify") as pool:
        yield from pool.map(
            lambda recording: verify_one(archiver, recording, read_bytes=read_bytes),
            listed_recordings(archiver, since, until, page_size),
        )
