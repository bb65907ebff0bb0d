"""`python -m archiver backfill|verify`: archive a window of recordings, or prove what is archived."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from archiver import config
from archiver.archive import Outcome
from archiver.logging import audit, configure
from archiver.reconcile import VERIFY_COLUMNS, SweepReport, parse_when, sweep, verify
from archiver.signalwire import FINAL_WITH_AUDIO
from archiver.webhook import Service

_FAILING = {"missing", "mismatch"}


class CommandError(Exception):
    """Reported as one line, exit status 2."""


def _when(value: str) -> datetime:
    try:
        return parse_when(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {value!r}") from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    until = args.until or datetime.now(UTC)
    if args.since >= until:
        raise CommandError("--since must be before --until")
    return args.since, until


class _AboveTheBar:
    """Lets audit lines print above tqdm's progress bar instead of through it."""

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text.rstrip("\n"), file=sys.stdout)

    def flush(self) -> None:
        sys.stdout.flush()


def backfill(service: Service, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    since, until = _window(args)
    if args.enqueue and service.queue is None:
        raise CommandError("--enqueue needs TASKS_QUEUE and TASKS_WORKER_URL (see docs/queued-mode.md)")
    if args.enqueue and args.delete_after_archive:
        raise CommandError("--enqueue: the worker deletes by its own DELETE_AFTER_ARCHIVE, not by this flag")
    show = sys.stderr.isatty() and not args.no_progress
    if show:
        structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=_AboveTheBar()))  # type: ignore[arg-type]
    recordings = tqdm(desc="recordings", unit="rec", disable=not show, position=0)
    transferred = tqdm(desc="audio", unit="B", unit_scale=True, unit_divisor=1024, disable=not show, position=1)

    def listed(recording: dict[str, Any]) -> None:
        recordings.total = (recordings.total or 0) + 1
        # Recordings with nothing to fetch, and every one in a dry run, are done as soon as listed.
        if args.dry_run or str(recording.get("status") or "").lower() not in FINAL_WITH_AUDIO:
            recordings.update(1)
        recordings.refresh()

    def done(outcome: Outcome) -> None:
        recordings.update(1)
        transferred.update((outcome.bytes or 0) if outcome.outcome == "archived" else 0)
        if outcome.outcome not in ("already_archived", "queued", "already_queued") or "deleted" in outcome.extra:
            audit(outcome, source="backfill")

    try:
        report = sweep(
            service.archiver,
            since,
            until,
            concurrency=args.concurrency,
            deadline_s=float("inf"),
            dry_run=args.dry_run,
            delete=args.delete_after_archive or None,
            on_outcome=done,
            on_listed=listed,
            enqueue=service.queue.enqueue if args.enqueue and service.queue else None,
            source="backfill",
        )
    finally:
        recordings.close()
        transferred.close()
    _print_summary(report, args.dry_run, sys.stdout, queued=bool(args.enqueue and not args.dry_run))
    return 0 if report.ok else 1


def _print_summary(report: SweepReport, dry_run: bool, out: TextIO, *, queued: bool = False) -> None:
    rows = [
        ("window", f"{report.since:%Y-%m-%d %H:%M:%S} → {report.until:%Y-%m-%d %H:%M:%S} UTC"),
        ("listed", str(report.listed)),
    ]
    if queued:
        # Queued: the workers archive (and delete) later; this run only created the tasks.
        rows += [("queued", str(len(report.queued))), ("already queued", str(report.already_queued))]
    else:
        rows += [
            ("would archive" if dry_run else "archived", str(len(report.would_archive if dry_run else report.archived)))
        ]
    rows += [
        ("already archived", str(report.already_archived)),
        ("skipped (no audio / not final)", ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped.items())) or "0"),
        ("deleted at SignalWire", str(report.deleted)),
        ("audio transferred", f"{report.bytes / 1024 / 1024:.1f} MiB"),
        ("failed", str(len(report.failed))),
    ]
    width = max(len(name) for name, _ in rows)
    print("", file=out)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}", file=out)
    for failure in report.failed:
        print(f"  FAILED {failure['sid']}: {failure['error']}", file=out)
    if dry_run:
        print("  dry run: nothing was downloaded, written or deleted", file=out)
    if queued:
        print("  queued: Cloud Tasks workers archive them now; `verify` shows when they are done", file=out)


def verify_command(service: Service, args: argparse.Namespace) -> int:
    since, until = _window(args)
    rows = list(verify(service.archiver, since, until, read_bytes=not args.metadata_only, concurrency=args.concurrency))
    if args.output:
        _write_report(rows, args.output)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["result"]] = counts.get(row["result"], 0) + 1
    bad = [row for row in rows if row["result"] in _FAILING]
    print(f"verified {len(rows)} recordings listed {since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M} UTC: ", end="")
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none listed")
    for row in bad:
        print(f"  {row['result'].upper()} {row['recording_sid']}: {row['detail']}")
    if args.output:
        print(f"report written to {args.output}")
    return 1 if bad else 0


def _write_report(rows: list[dict[str, Any]], path: Path) -> None:
    if path.suffix.lower() == ".json":
        document = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "recordings": rows}
        path.write_text(json.dumps(document, indent=2) + "\n")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=VERIFY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m archiver",
        description="Archive SignalWire recordings into GCS, or verify the archive. "
        "Configured by the same environment variables as the function (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def window(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--since", type=_when, required=True, help="ISO 8601 date or date-time (UTC if no offset)")
        sub.add_argument("--until", type=_when, help="ISO 8601 date or date-time; default: now")
        sub.add_argument("--concurrency", type=_positive, default=4, help="recordings in flight at once (default 4)")

    back = commands.add_parser(
        "backfill",
        help="archive every final recording created in a window",
        description="Archive every final recording created in the window that is not archived yet. "
        "Resumable: run it again and it continues where it stopped.",
    )
    window(back)
    back.add_argument("--dry-run", action="store_true", help="only report what would be archived; touch nothing")
    back.add_argument(
        "--delete-after-archive",
        action="store_true",
        help="delete each recording at SignalWire once its archive is verified (also on by DELETE_AFTER_ARCHIVE)",
    )
    back.add_argument(
        "--enqueue",
        action="store_true",
        help="create a Cloud Task per missing recording (TASKS_QUEUE) instead of archiving here; "
        "the queue's workers archive them",
    )
    back.add_argument("--no-progress", action="store_true", help="no progress bars")
    back.set_defaults(run=backfill)

    ver = commands.add_parser(
        "verify",
        help="check every recording in a window against the archive",
        description="For every recording SignalWire lists in the window: is it archived, do the stored bytes "
        "match the recorded size and checksums, is the metadata object present. Exit status 1 if anything "
        "is missing or mismatched.",
    )
    window(ver)
    ver.add_argument("--output", type=Path, help="write the report to FILE.csv or FILE.json")
    ver.add_argument(
        "--metadata-only",
        action="store_true",
        help="trust GCS's stored CRC32C instead of reading every byte back (faster, weaker)",
    )
    ver.set_defaults(run=verify_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = config.load()
        configure(settings.secrets)
        service = Service.from_settings(settings)
        return int(args.run(service, args))
    except (config.ConfigError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return 130
    except Exception as exc:
        # One clear line for the operator; what went wrong is in the message, not a traceback.
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
