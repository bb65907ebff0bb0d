"""`python -m bench.sweep`: what an hourly sweep over an archived window costs, before and after issue 14.

N recordings spread over a 48-hour window, all archived already, swept by the sweep endpoint's code
(`handle_sweep`) at concurrency 8 against fake-gcs-server and the SignalWire stand-in, each in its
own process. Requests are counted where they arrive: fake-gcs-server's request log and the stand-in's
own count. "before" is the same scenario run by the archiver package as it was at BEFORE (extracted
with `git archive`), "after" by this checkout. Figures go to bench/sweep-results.json; `--quick`
runs a small "after" only, as a smoke test that still checks the request bound.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import TOKEN, Stack, logger

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# main just before issue 14: every recording was checked with two GCS reads.
BEFORE = "d89e6c6d688b0d60e74b094174a5827101420da7"
CONCURRENCY = 8
# A 48-hour window that ends mid-morning spans three calendar days, as the hourly sweep's does.
UNTIL = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(hours=48)
DAYS = 3
AUDIO_BYTES = 1_000
FULL = [2_000, 20_000]
QUICK = [300]


log = logger("bench.sweep")


def plan(count: int) -> list[tuple[str, datetime]]:
    """The same recordings for the stand-in and the seeding: SIDs and creation times spread over the window."""
    step = (UNTIL - SINCE) / count
    return [(str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-sweep/{i}")), SINCE + step * (i + 0.5)) for i in range(count)]


def serve(count: int, project: str) -> None:
    """The stand-in with `count` recordings, in this process until it is stopped; prints its URL."""
    from localspace.space import Space

    space = Space(project, TOKEN)
    for sid, created in plan(count):
        space.add(sid=sid, size=AUDIO_BYTES, created=created.replace(microsecond=0))
    space.start()
    print(space.url, flush=True)
    while True:
        time.sleep(3600)


def measure(env_file: Path, out: Path) -> None:
    """One sweep by whichever `archiver` package is first on sys.path; its own figures go to `out`."""
    import io

    from archiver import config
    from archiver.logging import configure
    from archiver.webhook import handle_sweep

    try:
        from archiver.service import Service
    # The "before" tree predates archiver/service.py: its Service lived beside the handlers.
    except ImportError:
        from archiver.webhook import Service  # type: ignore[attr-defined]

    settings = config.load(json.loads(env_file.read_text()))
    configure(settings.secrets, console=False)
    service = Service.from_settings(settings)
    body = json.dumps({"since": SINCE.isoformat(), "until": UNTIL.isoformat()}).encode()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the audit lines are not what is measured
    started = time.perf_counter()
    reply = handle_sweep(service, "POST", {}, io.BytesIO(body))
    seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: the latter counts the parent's memory at fork, before this program was exec'd.
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kib = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    out.write_text(
        json.dumps({"status": reply.status, "summary": reply.body, "seconds": seconds, "peak_kib": peak_kib})
    )


class Scenario(Stack):
    """fake-gcs-server and a stand-in holding `count` archived recordings."""

    def __init__(self, count: int, work: Path) -> None:
        super().__init__(work, "sweep")
        self.count = count

    def start(self) -> None:
        self.start_gcs()
        self.start_space(
            [sys.executable, str(Path(__file__)), "serve", "--count", str(self.count), "--project", self.project],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(RECONCILE_CONCURRENCY=str(CONCURRENCY), RECONCILE_DEADLINE_SECONDS="3600", **extra)

    def seed(self) -> None:
        """Archive every recording with the archiver's own writes, without SignalWire in the loop."""
        from concurrent.futures import ThreadPoolExecutor

        from archiver import config
        from archiver.audioformat import decide
        from archiver.recordings import Recording
        from archiver.service import Service
        from archiver.storage import VerifyingReader
        from localspace.space import FakeRecording

        archiver = Service.from_settings(config.load(self.env())).archiver

        def archive(item: tuple[str, datetime]) -> None:
            sid, created = item
            fake = FakeRecording(sid, self.project, AUDIO_BYTES, created=created.replace(microsecond=0))
            recording = Recording(json.dumps(fake.metadata()).encode(), fake.metadata())
            audio_key, meta_key = archiver.keys(recording)
            data = fake.audio()
            reader = VerifyingReader.of_bytes(data)
            metadata = {**archiver.writer.audio_metadata(recording), "sha256": fake.sha256()}
            audio = archiver.store.put(audio_key, reader, "audio/mpeg", metadata)
            archiver.writer.write_manifest(recording, meta_key, audio, True, decide(data[:16], {}, sid))

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            list(pool.map(archive, plan(self.count)))

    def sweep(self, code_root: Path) -> dict[str, Any]:
        env_file, out = self.work / "env.json", self.work / "measure.json"
        env_file.write_text(json.dumps(self.env()))
        gcs_before, sw_before = self.gcs_requests(objects_only=True), self.space_counts()
        subprocess.run(
            [sys.executable, str(Path(__file__)), "measure", "--env", str(env_file), "--out", str(out)],
            # The archiver measured comes first; bench's own modules from this tree.
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(code_root), str(ROOT)])},
            check=True,
        )
        time.sleep(0.5)  # fake-gcs-server logs a request as it finishes
        result: dict[str, Any] = json.loads(out.read_text())
        sw_after = self.space_counts()
        summary = result.pop("summary")
        assert result["status"] == 200 and summary["already_archived"] == self.count, summary
        result["gcs_requests"] = self.gcs_requests(objects_only=True) - gcs_before
        lists = ("list", "relay-list")
        result["signalwire_lists"] = sum(sw_after[kind] - sw_before[kind] for kind in lists)
        result["signalwire_other"] = sum(sw_after.values()) - sum(sw_before.values()) - result["signalwire_lists"]
        return result

    def page_latency(self) -> dict[str, float]:
        """Seconds one list page takes at each server, on its own: what the emulators charge per request here."""
        import requests
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from archiver.layout import day_prefix

        client = storage.Client(project="bench", credentials=AnonymousCredentials())
        started = time.perf_counter()
        blobs = client.list_blobs(self.bucket, prefix=f"bench/{day_prefix(self.project, UNTIL - timedelta(days=1))}")
        next(iter(blobs.pages))
        gcs = time.perf_counter() - started
        started = time.perf_counter()
        requests.get(
            f"{self.space_url}/api/laml/2010-04-01/Accounts/{self.project}/Recordings.json",
            params={"PageSize": 1000},
            auth=(self.project, TOKEN),
            timeout=60,
        ).raise_for_status()
        return {"gcs_list_page_s": gcs, "signalwire_list_page_s": time.perf_counter() - started}


def before_tree(work: Path) -> Path | None:
    """The archiver package as it was at BEFORE, extracted beside the run; None in a clone without that commit."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE, "archiver"], capture_output=True)
    if archive.returncode != 0:
        log(f"commit {BEFORE[:12]} is not in this clone (shallow?): measuring 'after' only")
        return None
    root = work / "before"
    root.mkdir()
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def targets(count: int) -> tuple[int, int]:
    """The issue's bound: SignalWire list requests, GCS list requests.

    Plus one of each: the RELAY list, which has no date filter and is read whole (one empty page
    here), and the hourly endpoint's listing of its progress records.
    """
    return math.ceil(count / 1000) + 1, math.ceil(2 * count / 1000) + DAYS + 1


def run(counts: list[int], with_before: bool, work: Path) -> list[dict[str, Any]]:
    rows = []
    before = before_tree(work) if with_before else None
    codes = ([("before", before)] if before else []) + [("after", ROOT)]
    for count in counts:
        scenario = Scenario(count, work / f"n{count}")
        scenario.work.mkdir()
        scenario.start()
        try:
            started = time.perf_counter()
            scenario.seed()
            log(f"{count} recordings archived for the scenario in {time.perf_counter() - started:.0f}s")
            latency = scenario.page_latency()
            log(
                f"one list page alone: GCS {latency['gcs_list_page_s']:.2f}s, SignalWire stand-in "
                f"{latency['signalwire_list_page_s']:.2f}s"
            )
            for name, code_root in codes:
                result = scenario.sweep(code_root)
                row = {"recordings": count, "code": name, **result, **latency}
                log(
                    f"{count} recordings, {name}: {result['signalwire_lists']} SignalWire lists + "
                    f"{result['signalwire_other']} other, {result['gcs_requests']} GCS requests, "
                    f"{result['seconds']:.2f}s, peak RSS {result['peak_kib'] / 1024:.0f} MiB"
                )
                rows.append(row)
        finally:
            scenario.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command")
    server = commands.add_parser("serve", help="(internal) the stand-in holding the scenario's recordings")
    server.add_argument("--count", type=int, required=True)
    server.add_argument("--project", required=True)
    measured = commands.add_parser("measure", help="(internal) one sweep by the archiver on PYTHONPATH")
    measured.add_argument("--env", type=Path, required=True)
    measured.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a small 'after' run for CI; figures not recorded")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.count, args.project)
        return
    if args.command == "measure":
        measure(args.env, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        rows = run(QUICK if args.quick else FULL, not args.quick, Path(tmp))
    print(f"\n{'recordings':>10}  {'code':6}  {'SignalWire':>10}  {'GCS':>6}  {'seconds':>8}  target (SW / GCS)  met")
    failed = False
    for row in rows:
        sw_target, gcs_target = targets(row["recordings"])
        met = (
            row["signalwire_lists"] <= sw_target and row["signalwire_other"] == 0 and row["gcs_requests"] <= gcs_target
        )
        row["target"] = {"signalwire": sw_target, "gcs": gcs_target, "met": met}
        failed |= row["code"] == "after" and not met
        print(
            f"{row['recordings']:>10,}  {row['code']:6}  {row['signalwire_lists'] + row['signalwire_other']:>10,}  "
            f"{row['gcs_requests']:>6,}  {row['seconds']:>8.2f}  {sw_target} / {gcs_target:<12}  "
            f"{'yes' if met else 'NO'}"
        )
    if not args.quick:
        document = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cores": os.cpu_count(), "rows": rows}
        (HERE / "sweep-results.json").write_text(json.dumps(document, indent=2) + "\n")
        print("wrote bench/sweep-results.json")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
