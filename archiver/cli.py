"""`python -m archiver`: the operator's commands (backfill, verify, hold, serve, send-callback) over one Service."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import socket
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from archiver import config, signature
from archiver.archive_view import AHEAD_PER_WORKER, SeenSids, archive_rows
from archiver.display import csv_row, terminal
from archiver.holds import Selection, apply_hold
from archiver.logging import audit, configure
from archiver.outcome import Outcome
from archiver.recordings import FINAL_WITH_AUDIO, Trigger
from archiver.report import Report, configuration_of
from archiver.service import Service
from archiver.signalwire import RetryPolicy
from archiver.sweep import parse_when, sweep
from archiver.sweep_report import REPORT_KEEPS, SweepReport
from archiver.verify import FAILING_RESULTS, VERIFY_COLUMNS, blank_row, verify


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
    if args.enqueue and args.repair:
        raise CommandError("--repair runs here, not through the queue: run it without --enqueue")
    show = sys.stderr.isatty() and not args.no_progress
    if show:
        structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=_AboveTheBar()))  # type: ignore[arg-type]
    recordings = tqdm(desc="recordings", unit="rec", disable=not show, position=0)
    transferred = tqdm(desc="audio", unit="B", unit_scale=True, unit_divisor=1024, disable=not show, position=1)

    seen = SeenSids()

    def listed(recording: dict[str, Any]) -> None:
        seen.add(str(recording.get("sid") or ""))
        recordings.total = (recordings.total or 0) + 1
        # Recordings with nothing to fetch, and every one in a dry run, are done as soon as listed.
        if args.dry_run or str(recording.get("status") or "").lower() not in FINAL_WITH_AUDIO:
            recordings.update(1)
        recordings.refresh()

    def done(outcome: Outcome) -> None:
        recordings.update(1)
        transferred.update((outcome.bytes or 0) if outcome.outcome == "archived" else 0)
        if outcome.outcome not in ("already_archived", "queued", "already_queued") or outcome.deletion is not None:
            audit(outcome, source=Trigger.BACKFILL)

    try:
        report = sweep(
            service.archiver,
            since,
            until,
            concurrency=args.concurrency,
            deadline_s=float("inf"),
            dry_run=args.dry_run,
            delete=args.delete_after_archive or None,
            repair=args.repair,
            on_outcome=done,
            on_listed=listed,
            enqueue=service.queue.enqueue if args.enqueue and service.queue else None,
            source=Trigger.BACKFILL,
        )
    finally:
        recordings.close()
        transferred.close()
    _print_summary(report, args.dry_run, sys.stdout, queued=bool(args.enqueue and not args.dry_run))
    unrepairable = _unrepairable(service, since, until, seen, args.concurrency) if args.repair else 0
    return 0 if report.ok and not unrepairable else 1


def _unrepairable(service: Service, since: datetime, until: datetime, seen: SeenSids, concurrency: int) -> int:
    """Say which stored pairs disagree with their manifests although SignalWire no longer lists them: nothing can
    be fetched to archive again, so --repair cannot mend them. Returns how many."""
    found = 0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="repair") as pool:
        rows = archive_rows(
            service.archiver,
            (since, until),
            blank_row,
            read_bytes=False,
            pool=pool,
            leave_out=seen,
            ahead=AHEAD_PER_WORKER * concurrency,
        )
        for row in rows:
            if row["result"] not in FAILING_RESULTS:
                continue
            found += 1
            if found <= REPORT_KEEPS:
                sid = terminal(row["recording_sid"] or "(the archive)")
                print(
                    f"  CANNOT REPAIR {sid}: SignalWire no longer lists it, so there is nothing to archive again; "
                    f"the archive's copy is all there is: {terminal(row['detail'])}"
                )
    return found


def _print_summary(report: SweepReport, dry_run: bool, out: TextIO, *, queued: bool = False) -> None:
    rows = [
        ("window", f"{report.since:%Y-%m-%d %H:%M:%S} → {report.until:%Y-%m-%d %H:%M:%S} UTC"),
        ("listed", str(report.listed)),
    ]
    if queued:
        # Queued: the workers archive (and delete) later; this run only created the tasks.
        rows += [("queued", str(report.queued.total)), ("already queued", str(report.already_queued))]
    else:
        rows += [
            (
                "would archive" if dry_run else "archived",
                str((report.would_archive if dry_run else report.archived).total),
            )
        ]
    rows += [
        ("already archived", str(report.already_archived)),
        (
            "skipped (no audio / not final)",
            ", ".join(f"{terminal(k)}: {v}" for k, v in sorted(report.skipped.items())) or "0",
        ),
        ("repaired", str(report.repaired.total)),
        ("deleted at SignalWire", str(report.deleted)),
        ("audio transferred", _size(report.bytes)),
        ("corrupt", str(report.corrupt.total)),
        ("failed", str(report.failed.total)),
    ]
    width = max(len(name) for name, _ in rows)
    print("", file=out)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}", file=out)
    for sid in report.repaired:
        print(f"  REPAIRED {terminal(sid)}", file=out)
    for row in report.repair_incomplete:
        print(f"  NOT FULLY REPAIRED {terminal(row['sid'])}: {terminal(row['error'])}", file=out)
    for row in report.corrupt:
        print(f"  CORRUPT {terminal(row['sid'])}: {terminal(row['error'])}", file=out)
    for failure in report.failed:
        print(f"  FAILED {terminal(failure['sid'] or '(the listing)')}: {terminal(failure['error'])}", file=out)
    if report.corrupt and not any("cannot repair" in row["error"] for row in report.corrupt):
        print("  run the same command with --repair to archive the corrupt recordings again", file=out)
    if dry_run:
        print("  dry run: nothing was downloaded, written or deleted", file=out)
    if queued:
        print("  queued: Cloud Tasks workers archive them now; `verify` shows when they are done", file=out)


def _tell_retry(seconds: float, error: BaseException) -> None:
    from tqdm import tqdm

    # Above any progress bar, on stderr: waiting should never look like hanging.
    tqdm.write(f"retrying in {seconds:.1f}s: {terminal(error)}", file=sys.stderr)


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB" if count >= 1024 * 1024 else f"{count / 1024:.1f} KiB"


# verify prints this many problem rows; the rest are in its --output file.
_SHOWN_MAX = 200


def verify_command(service: Service, args: argparse.Namespace) -> int:
    """Rows are taken as they come and never kept: counted, written out, added to the report."""
    since, until = _window(args)
    views = ("archive",) if args.archived else ("signalwire", "archive")
    rows = verify(
        service.archiver, since, until, read_bytes=not args.metadata_only, concurrency=args.concurrency, views=views
    )
    counts: dict[str, Counter[str]] = {view: Counter() for view in views}
    shown: list[dict[str, Any]] = []
    held = 0
    configuration = configuration_of(service.settings, read_bytes=not args.metadata_only)
    # The auditor's page aggregates as rows pass (archiver/report.py), so it too holds a day's work, not a month's.
    report = Report(since, until, configuration) if args.report else None
    with _row_writer(args.output) as write:
        # Streamed: a month's report is written row by row, and only the first few problems are kept to show.
        for row in rows:
            write(row)
            if report is not None:
                report.add(row)
            counts.setdefault(row["view"] or "signalwire", Counter())[row["result"]] += 1
            held += row.get("held") is True
            problem = row["result"] in FAILING_RESULTS or row["result"] == "unverified_size"
            if problem and len(shown) < _SHOWN_MAX:
                shown.append(row)
    if report is not None:
        report.write(args.report)
    listed = sum(counts.get("signalwire", Counter()).values())
    stored = sum(counts["archive"].values())
    window = f"{since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M} UTC"
    if "signalwire" in views:
        found = ", ".join(f"{terminal(k)}: {v}" for k, v in sorted(counts["signalwire"].items())) or "none listed"
        print(f"verified {listed} {'recording' if listed == 1 else 'recordings'} listed {window}: {found}")
        print(f"archived, not listed by SignalWire: {stored}", end="")
    else:
        print(f"verified {stored} archived {'recording' if stored == 1 else 'recordings'} {window}", end="")
    print("".join(f", {terminal(k)}: {v}" for k, v in sorted(counts["archive"].items())))
    if held:
        print(f"  under legal hold: {held}")
    for row in shown:
        where = " (archive only)" if row["view"] == "archive" else ""
        sid = terminal(row["recording_sid"] or "(the listing)")
        print(f"  {terminal(row['result'].upper())} {sid}{where}: {terminal(row['detail'])}")
    problems = sum(v for c in counts.values() for k, v in c.items() if k in FAILING_RESULTS or k == "unverified_size")
    if problems > len(shown):
        print(f"  … and {problems - len(shown)} more{' in ' + str(args.output) if args.output else ''}")
    if args.output:
        print(f"report written to {args.output}")
    if args.report:
        print(f"auditor's report written to {args.report}")
    return 1 if any(k in FAILING_RESULTS for c in counts.values() for k in c) else 0


@contextlib.contextmanager
def _row_writer(path: Path | None) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Write verify's rows one at a time to `path` (.json: one document; anything else: CSV); None: nowhere.

    Written beside it and renamed once complete: a listing that fails halfway leaves no file that looks whole.
    """
    if path is None:
        yield lambda _row: None
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", newline="") as handle:
            yield _csv_rows(handle) if path.suffix.lower() != ".json" else _json_rows(handle)
            handle.write("" if path.suffix.lower() != ".json" else "\n  ]\n}\n")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _csv_rows(handle: TextIO) -> Callable[[dict[str, Any]], None]:
    writer = csv.DictWriter(handle, fieldnames=VERIFY_COLUMNS)
    writer.writeheader()
    # Neutralised (archiver/display.py): a spreadsheet must not run what SignalWire sent.
    return lambda row: writer.writerow(csv_row(row))


def _json_rows(handle: TextIO) -> Callable[[dict[str, Any]], None]:
    """Rows into one JSON document, `{"generated_at": …, "recordings": [...]}`; the caller closes the list."""
    generated = json.dumps(datetime.now(UTC).isoformat(timespec="seconds"))
    handle.write(f'{{\n  "generated_at": {generated},\n  "recordings": [\n')
    separator = ""

    def write(row: dict[str, Any]) -> None:
        nonlocal separator
        handle.write(separator + textwrap.indent(json.dumps(row, indent=2), "    "))
        separator = ",\n"

    return write


def serve(service: Service, args: argparse.Namespace) -> int:
    """`make run`: the callback function on localhost, after checking what would otherwise fail obscurely."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            raise CommandError(f"port {args.port} is taken by another server: make run PORT={args.port + 1}") from None
    url = f"http://127.0.0.1:{args.port}/"
    signed = service.settings.public_url or f"{url} as the request arrives (PUBLIC_URL is not set)"
    # Configuration warnings come from main.py as functions-framework imports it, once.
    print(f"listening on {url} — callbacks must be signed for {signed}; archive: {service.settings.archive_uri}")
    sys.stdout.flush()
    target = ["-m", "functions_framework", "--target", "archive_recording", "--host", "127.0.0.1"]
    os.execv(sys.executable, [sys.executable, *target, "--port", str(args.port)])  # noqa: S606


def send_callback(service: Service, args: argparse.Namespace) -> int:
    """Sign and send a recording status callback as SignalWire would, to a function on this machine."""
    import requests

    settings = service.settings
    if not settings.signing_keys:
        raise CommandError("SIGNALWIRE_SIGNING_KEY is not set: the callback cannot be signed")
    if not config.is_sid(args.sid):
        raise CommandError(f"not a recording SID: {args.sid!r}")
    # The function checks the signature against PUBLIC_URL when it is set, whatever address it was reached on.
    signed_for = settings.public_url or args.to
    fields = {
        "AccountSid": settings.project_id,
        "CallSid": str(uuid.uuid4()),
        "RecordingSid": args.sid,
        "RecordingStatus": args.status,
        "RecordingUrl": f"{settings.api_base}/Recordings/{args.sid}",
        "RecordingSource": "DialVerb",
    }
    # During a rotation the newest key is the last one, the one SignalWire signs with once reset.
    key = settings.signing_keys[-1]
    headers = {"X-SignalWire-Signature": signature.compute(key, signed_for, fields.items())}
    try:
        response = requests.post(args.to, data=fields, headers=headers, timeout=600)
    except requests.ConnectionError:
        raise CommandError(f"nothing answers at {args.to}: start the function with `make run`") from None
    answer = terminal(response.text.strip()[:2000])
    print(f"POST {args.to} ({args.status}, signed for {signed_for}) → {response.status_code} {answer}")
    return 0 if response.ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m archiver",
        description="Archive SignalWire recordings into GCS, or verify the archive. "
        "Configured by the same environment variables as the function (see docs/configuration.md).",
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
        "--repair",
        action="store_true",
        help="archive again the recordings whose stored audio disagrees with its manifest (where the bucket's "
        "retention allows removing the bad object)",
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
        "match the recorded size and checksums, is the metadata object present, did SignalWire announce the "
        "size. Then every pair the archive holds in the window that SignalWire does not list, checked against "
        "its manifest. Exit status 1 if anything is missing, corrupt or could not be checked.",
    )
    window(ver)
    ver.add_argument("--output", type=Path, help="write the report to FILE.csv or FILE.json")
    ver.add_argument(
        "--report", type=Path, help="also write FILE.html: totals, a per-day chart and the exceptions, for an auditor"
    )
    ver.add_argument(
        "--metadata-only",
        action="store_true",
        help="trust GCS's stored CRC32C instead of reading every byte back (faster, weaker)",
    )
    ver.add_argument(
        "--archived",
        action="store_true",
        help="check only what the archive holds (every manifest and audio pair stored in the window, against "
        "each other), without asking SignalWire: for recordings already deleted there",
    )
    ver.set_defaults(run=verify_command)

    run = commands.add_parser(
        "serve",
        help="run the callback function on localhost (what `make run` does)",
        description="Check the configuration and the port, say where the function listens and which URL "
        "callbacks must be signed for, then run it under functions-framework.",
    )
    run.add_argument("--port", type=_positive, default=8080, help="port on 127.0.0.1 (default 8080)")
    run.set_defaults(run=serve)

    send = commands.add_parser(
        "send-callback",
        help="sign and send a recording status callback to the function on this machine",
        description="Send SID's recording status callback, signed with SIGNALWIRE_SIGNING_KEY over PUBLIC_URL "
        "(or --to when PUBLIC_URL is unset), as SignalWire does: the local loop without an account or a tunnel.",
    )
    send.add_argument("sid", help="the recording's SID (a UUID)")
    send.add_argument("--status", default="completed", help="RecordingStatus to send (default completed)")
    send.add_argument("--to", default="http://127.0.0.1:8080/", help="where to POST (default http://127.0.0.1:8080/)")
    send.set_defaults(run=send_callback)
    _add_hold(commands)
    return parser


# --- legal holds ------------------------------------------------------------------------------


def hold_command(service: Service, args: argparse.Namespace) -> int:
    """Set or clear a temporary hold on every archived recording selected; exit 1 if none matched or any failed."""
    if not (args.recording or args.call or args.since):
        raise CommandError("say what to hold: --recording SID, --call CALL_SID, or --since/--until")
    for name in ("recording", "call"):
        value = getattr(args, name)
        if value is not None and not config.is_sid(value):
            raise CommandError(f"--{name}: not a SID: {value[:64]!r}")
    if args.until is not None and args.since is None:
        raise CommandError("--until needs --since")
    if len(args.reason) > 500:
        # It goes into every object's audit line, which Cloud Logging drops beyond 256 KB.
        raise CommandError("--reason: at most 500 characters")
    since, until = _window(args) if args.since else (None, None)
    selection = Selection(recording=args.recording, call=args.call, since=since, until=until)
    held = not args.release
    report = apply_hold(service.archiver.store, service.settings.project_id, selection, held=held, reason=args.reason)
    verb = "held" if held else "released"
    print(
        f"{report.recordings} recording(s) matched; {report.changed} object(s) {verb}, "
        f"{report.unchanged} already {verb}, {len(report.failed)} failed"
    )
    for failure in report.failed:
        print(f"  FAILED {terminal(failure['uri'])}: {terminal(failure['error'])}")
    if report.recordings == 0:
        print("  nothing matched: no archived recording fits the selection")
    return 0 if report.ok else 1


def _add_hold(commands: Any) -> None:
    hold = commands.add_parser(
        "hold",
        help="put archived recordings under legal hold (a GCS temporary hold), or release them",
        description="Set (or with --release clear) a temporary hold on the audio and the manifest of every "
        "archived recording selected: one recording, every recording of a call (found through the manifests), "
        "or every recording created in a window; the selectors combine. A held object can be neither deleted "
        "nor replaced, whatever its retention. Needs storage.objects.update on the bucket (see docs/audit.md).",
    )
    hold.add_argument("--recording", help="one recording's SID")
    hold.add_argument("--call", help="a call SID: every recording of that call")
    hold.add_argument("--since", type=_when, help="ISO 8601 date or date-time (UTC if no offset)")
    hold.add_argument("--until", type=_when, help="ISO 8601 date or date-time; default: now")
    hold.add_argument("--release", action="store_true", help="clear the hold instead of setting it")
    hold.add_argument("--reason", default="", help="why (a matter or ticket number); goes into every audit line")
    hold.set_defaults(run=hold_command)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = config.load()
        configure(settings.secrets)
        service = Service.from_settings(settings, policy=RetryPolicy(settings.retry_budget_s, on_retry=_tell_retry))
        return int(args.run(service, args))
    except (config.ConfigError, CommandError) as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return 130
    except Exception as exc:
        # One clear line for the operator; what went wrong is in the message, not a traceback.
        print(f"error: {type(exc).__name__}: {terminal(exc)}", file=sys.stderr)
        return 2
