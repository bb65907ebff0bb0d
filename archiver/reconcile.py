"""Make the archive complete and prove it: sweep a window of recordings, and verify what is stored."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from archiver.archive import Archiver, Outcome, check_agreement, retained_until
from archiver.config import is_sid
from archiver.errors import ArchiveError, Corrupt
from archiver.signalwire import FINAL_WITH_AUDIO, NO_AUDIO
from archiver.storage import crc32c_of


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
    corrupt: list[dict[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    deleted: int = 0
    bytes: int = 0

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
            "failed": self.failed,
            "corrupt": self.corrupt,
            "repaired": self.repaired,
            "remaining": self.remaining,
            "deleted": self.deleted,
            "bytes": self.bytes,
        }


class Enqueue(Protocol):
    """Queued mode: hands one recording to Cloud Tasks (`TaskQueue.enqueue`)."""

    def __call__(self, sid: str, *, source: str, date_created: str | None = None, api: str = "laml") -> Outcome: ...


def parse_when(value: str) -> datetime:
    """An ISO 8601 date or date-time; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def listed_recordings(
    archiver: Archiver, since: datetime, until: datetime, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """The window's recordings as every configured API lists them (LaML, then RELAY), retried like any request."""
    for source in archiver.sources.values():
        yield from source.list_recordings(since, until, archiver.policy, page_size)


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
    enqueue: Enqueue | None = None,
    source: str = "sweep",
) -> SweepReport:
    """Archive every final recording of the window not archived yet, without passing `deadline_s`.

    A listed row that is not a recording (a malformed SID) is a failed row; the rest goes on.
    `repair` rewrites archives that disagree with their manifests instead of only reporting them.
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
                if "repaired" in outcome.extra:
                    report.repaired.append(outcome.recording_sid)
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
                pending.add(pool.submit(archiver.archive, sid, recording, delete=delete, repair=repair))
        except ArchiveError as exc:
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
]
# Results that make `verify` exit 1; `unverified_size` is reported, and DELETE_AFTER_ARCHIVE never deletes it.
FAILING_RESULTS = frozenset({"missing", "corrupt", "failed"})


def verify_one(archiver: Archiver, recording: dict[str, Any], *, read_bytes: bool) -> dict[str, Any]:
    """One row of the report: `ok`, `unverified_size`, `not_retained`, `missing`, `corrupt`, `no_audio`,
    `not_final` or `failed`.

    A row that cannot be checked (a malformed SID or date, a storage error) is `failed`; the rest goes on.
    """
    sid = str(recording.get("sid") or "")[:64]
    status = str(recording.get("status") or "").lower()[:32]
    row: dict[str, Any] = {c: "" for c in VERIFY_COLUMNS}
    row.update(recording_sid=sid, date_created=str(recording.get("date_created") or "")[:64], status=status)
    if status not in FINAL_WITH_AUDIO:
        row["result"] = "no_audio" if status in NO_AUDIO else "not_final"
        return row
    if not is_sid(sid):
        row.update(result="failed", detail="the listing returned a malformed SID")
        return row
    try:
        _check_row(archiver, row, recording, read_bytes)
    except Corrupt as exc:
        row.update(result="corrupt", detail=str(exc))
    except Exception as exc:
        row.update(result="failed", detail=f"{type(exc).__name__}: {exc}")
    return row


def _check_row(archiver: Archiver, row: dict[str, Any], recording: dict[str, Any], read_bytes: bool) -> None:
    audio_key, meta_key = archiver.keys_of(row["recording_sid"], recording)
    row["audio_uri"] = archiver.store.uri(audio_key)
    row["metadata_uri"] = archiver.store.uri(meta_key)
    manifest = archiver.store.stat(meta_key)
    if manifest is not None:
        audio_key = archiver.recorded_audio_key((audio_key, meta_key), manifest)
        row["audio_uri"] = archiver.store.uri(audio_key)
    audio = archiver.store.stat(audio_key)
    row["metadata_present"] = manifest is not None
    if audio is not None:
        row.update(audio_bytes=audio.size, audio_crc32c=audio.crc32c)
    if manifest is None:
        # No manifest means never completed: whatever audio is there is an unfinished attempt.
        row.update(result="missing", detail=f"not archived: {row['metadata_uri']}")
        return
    recorded = manifest.metadata
    row.update(
        recorded_bytes=int(recorded["audio-bytes"]) if recorded.get("audio-bytes", "").isdigit() else "",
        size_verified=recorded.get("audio-size-verified") == "true",
        recorded_crc32c=recorded.get("audio-crc32c", ""),
        recorded_sha256=recorded.get("audio-sha256", ""),
    )
    if audio is None:
        raise Corrupt(f"{row['audio_uri']} is missing, though its manifest records it as archived")
    check_agreement(audio, manifest)
    if read_bytes:
        size, crc, sha = crc32c_of(archiver.store.iter_bytes(audio_key))
        row["computed_sha256"] = sha
        if (size, crc, sha) != (row["recorded_bytes"], row["recorded_crc32c"], row["recorded_sha256"]):
            raise Corrupt(f"stored bytes read back as {size} bytes sha256 {sha}")
    row["retained_until"] = retained_until(audio, manifest) or ""
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
    """A row for every recording SignalWire lists in the window, in listing order."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify") as pool:
        yield from pool.map(
            lambda recording: verify_one(archiver, recording, read_bytes=read_bytes),
            listed_recordings(archiver, since, until, page_size),
        )
