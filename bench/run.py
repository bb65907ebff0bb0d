"""`make bench`: memory, throughput, request economy, cold start and concurrency of the real function process.

Everything runs on this machine: fake-gcs-server, the SignalWire stand-in in its own process, and the
function under functions-framework. Figures go to bench/results.json and bench/results.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from bench import queued
from bench.common import KEY, MB, Bench, MiB, logger, reset_peak, vm_hwm_kib, worker_pid
from localspace.processes import ROOT

HERE = Path(__file__).resolve().parent
log = logger("bench")
CHUNK_MIB = 8

FULL = {
    "sizes": [10 * MB, 100 * MB, 1024 * MiB],
    "copy_size": 500 * MB,
    "rounds": 3,
    "burst": 50,
    "burst_size": 2 * MB,
    "answer_sizes": [1 * MB, 100 * MB, 1024 * MiB],
    "answer_samples": 50,
    "delivery_size": 200 * MB,
    "backfill_count": 1000,
    "backfill_size": 20_000,
}
QUICK = {
    "sizes": [1 * MB, 10 * MB, 40 * MB],
    "copy_size": 20 * MB,
    "rounds": 1,
    "burst": 10,
    "burst_size": 2 * MB,
    "answer_sizes": [1 * MB, 10 * MB],
    "answer_samples": 10,
    "delivery_size": 10 * MB,
    "backfill_count": 30,
    "backfill_size": 20_000,
}
DEPENDENCIES = "import functions_framework, flask, requests, structlog, tenacity, google_crc32c, google.cloud.storage"
# Queued mode's extra start-up: the Cloud Tasks package, and a client built on either transport.
TASKS_CLIENT = (
    "from google.cloud import tasks_v2; from google.auth.credentials import AnonymousCredentials; "
    "tasks_v2.CloudTasksClient(transport='{}', credentials=AnonymousCredentials())"
)


def cold_start(runs: int) -> dict[str, float]:
    env = {**os.environ, "SIGNALWIRE_SPACE_URL": "http://127.0.0.1:9", "SIGNALWIRE_PROJECT_ID": str(uuid.uuid4())}
    env |= {"SIGNALWIRE_API_TOKEN": "x", "SIGNALWIRE_SIGNING_KEY": KEY, "ARCHIVE_URI": "gs://cold-start-bucket"}
    env["GOOGLE_CLOUD_PROJECT"] = "bench"
    env.setdefault("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")

    queued_env = env | {"TASKS_QUEUE": queued.QUEUE, "TASKS_WORKER_URL": "https://worker.example.com/"}

    def timed(code: str, environment: dict[str, str] = env) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True)
        return time.perf_counter() - started

    bare = statistics.median(timed("pass") for _ in range(runs))
    deps = statistics.median(timed(DEPENDENCIES) for _ in range(runs)) - bare
    main = statistics.median(timed("import main") for _ in range(runs)) - bare
    main_queued = statistics.median(timed("import main", queued_env) for _ in range(runs)) - bare
    # Alternating the two transports run by run, so drift on a shared machine hits both alike.
    samples: dict[str, list[float]] = {"grpc": [], "rest": []}
    for _ in range(runs):
        for transport, times in samples.items():
            times.append(timed(f"{DEPENDENCIES}; {TASKS_CLIENT.format(transport)}"))
    clients = {transport: statistics.median(times) - bare - deps for transport, times in samples.items()}
    return {
        "interpreter_s": bare,
        "dependencies_s": deps,
        "main_s": main,
        "overhead_ratio": main / deps,
        "main_queued_s": main_queued,
        "tasks_client_grpc_s": clients["grpc"],
        "tasks_client_rest_s": clients["rest"],
    }


def run(plan: dict[str, Any], work: Path, only_queued: bool = False) -> dict[str, Any]:
    bench = Bench(plan, work, CHUNK_MIB)
    warm = bench.recording(100_000)
    memory_sids = [(size, bench.recording(size)) for size in plan["sizes"]]
    copy_sids = [
        (bench.recording(plan["copy_size"]), bench.recording(plan["copy_size"])) for _ in range(plan["rounds"])
    ]
    economy_sid = bench.recording(2 * MB)
    burst_sids = [bench.recording(plan["burst_size"]) for _ in range(plan["burst"])]
    queued_plan = queued.Plan(bench, plan)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "plan": plan,
        "chunk_mib": CHUNK_MIB,
    }
    bench.start()
    try:
        # Cold start: process start to first successful (signed, 200) response.
        started = time.perf_counter()
        process, url = bench.start_function()
        status = 0
        while status != 200:
            status = bench.callback(url, warm, "in-progress")[0]
        results["first_response_s"] = time.perf_counter() - started
        worker = worker_pid(process.pid)
        assert bench.callback(url, warm)[0] == 200  # warm every code path once
        log("cold start: importing main vs its dependencies")
        results["cold_start"] = cold_start(7)
        if not only_queued:
            memory = []
            for size, sid in memory_sids:
                reset_peak(worker)
                idle = vm_hwm_kib(worker)
                code, seconds, body = bench.callback(url, sid)
                assert code == 200 and body["outcome"] == "archived", body
                peak = vm_hwm_kib(worker)
                memory.append(
                    {
                        "bytes": size,
                        "idle_kib": idle,
                        "peak_kib": peak,
                        "growth_mib": (peak - idle) / 1024,
                        "seconds": seconds,
                        "mb_per_s": size / MB / seconds,
                    }
                )
                log(f"memory: {size / MiB:.0f} MiB grew the worker by {(peak - idle) / 1024:.1f} MiB in {seconds:.1f}s")
            results["memory"] = memory

            ratios, function_times, copy_times = [], [], []
            bucket = storage.Client(project="bench", credentials=AnonymousCredentials()).bucket(bench.bucket)

            def plain_copy(copy_sid: str) -> float:
                media = f"{bench.space_url}/api/laml/2010-04-01/Accounts/{bench.project}/Recordings/{copy_sid}.mp3"
                command = [sys.executable, str(HERE / "plain_copy.py"), media, bench.bucket, f"copy/{copy_sid}.mp3"]
                out = subprocess.run(
                    [*command, str(CHUNK_MIB * MiB)],
                    cwd=ROOT,
                    env={**os.environ, **bench.env()},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                blob = bucket.get_blob(f"copy/{copy_sid}.mp3")
                assert blob is not None and blob.size == plan["copy_size"], "plain copy stored the wrong size"
                return float(out.stdout.strip())

            def function(fn_sid: str) -> float:
                code, seconds, body = bench.callback(url, fn_sid)
                assert code == 200 and body["outcome"] == "archived", body
                return seconds

            for round_, (fn_sid, copy_sid) in enumerate(copy_sids):
                # Which goes first alternates: the emulator slows as its bucket grows, favouring the first.
                if round_ % 2 == 0:
                    fn_seconds, copy_seconds = function(fn_sid), plain_copy(copy_sid)
                else:
                    copy_seconds = plain_copy(copy_sid)
                    fn_seconds = function(fn_sid)
                function_times.append(fn_seconds)
                copy_times.append(copy_seconds)
                ratios.append(fn_seconds / copy_seconds)
                log(f"throughput round {round_ + 1}: function {fn_seconds:.2f}s, plain copy {copy_seconds:.2f}s")
            results["throughput"] = {
                "bytes": plan["copy_size"],
                "function_s": function_times,
                "plain_copy_s": copy_times,
                "ratio_median": statistics.median(ratios),
                "function_mb_per_s": plan["copy_size"] / MB / statistics.median(function_times),
            }

            before_sw, before_gcs = bench.space_counts(), bench.gcs_requests()
            assert bench.callback(url, economy_sid)[2]["outcome"] == "archived"
            mid_sw, mid_gcs = bench.space_counts(), bench.gcs_requests()
            assert bench.callback(url, economy_sid)[2]["outcome"] == "already_archived"
            after_sw, after_gcs = bench.space_counts(), bench.gcs_requests()
            results["economy"] = {
                "new": {"signalwire": sum(mid_sw.values()) - sum(before_sw.values()), "gcs": mid_gcs - before_gcs},
                "duplicate": {
                    "signalwire": sum(after_sw.values()) - sum(mid_sw.values()),
                    "audio_requests": after_sw["media"] - mid_sw["media"],
                    "gcs": after_gcs - mid_gcs,
                },
            }
            log(f"economy: {results['economy']}")

            reset_peak(worker)
            idle = vm_hwm_kib(worker)
            with ThreadPoolExecutor(max_workers=plan["burst"]) as pool:
                answers = list(pool.map(lambda sid: bench.callback(url, sid), burst_sids))
            latencies = sorted(seconds for _, seconds, _ in answers)
            results["concurrency"] = {
                "callbacks": plan["burst"],
                "archived": sum(1 for code, _, body in answers if code == 200 and body["outcome"] == "archived"),
                "p50_s": statistics.median(latencies),
                "p95_s": latencies[max(0, int(len(latencies) * 0.95) - 1)],
                "growth_mib": (vm_hwm_kib(worker) - idle) / 1024,
            }
            log(f"concurrency: {results['concurrency']}")
        results["queued"] = queued.run(bench, plan, queued_plan, url, results.get("memory", []))
    finally:
        bench.stop()
    return results


def targets(results: dict[str, Any], quick: bool) -> list[tuple[str, str, str, bool | None]]:
    """Each measure against its target; None where the run's sizes say nothing about it (smoke runs)
    or where a row only shows a figure (target "(shown)")."""
    cold = results["cold_start"]
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            "import main, queued mode minus inline",
            "(shown)",
            f"{(cold['main_queued_s'] - cold['main_s']) * 1000:+.0f} ms",
            None,
        ),
        (
            "Cloud Tasks import + client: gRPC / REST",
            "(shown)",
            f"{cold['tasks_client_grpc_s'] * 1000:.0f} / {cold['tasks_client_rest_s'] * 1000:.0f} ms",
            None,
        ),
    ]
    if "memory" in results:
        rows = inline_targets(results, quick) + rows
    return rows + queued.targets(results["queued"])


def inline_targets(results: dict[str, Any], quick: bool) -> list[tuple[str, str, str, bool | None]]:
    memory = results["memory"]
    growths = [m["growth_mib"] for m in memory]
    economy = results["economy"]
    rows: list[tuple[str, str, str, bool | None]] = [
        ("memory growth at largest size", "≤ 32 MiB", f"{growths[-1]:.1f} MiB", growths[-1] <= 32),
        (
            "memory flat across sizes",
            "spread ≤ 16 MiB",
            f"{max(growths) - min(growths):.1f} MiB",
            max(growths) - min(growths) <= 16,
        ),
        (
            "throughput vs plain copy",
            "≤ 1.10",
            f"{results['throughput']['ratio_median']:.3f}",
            # Tens of MB are dominated by start-up costs, not by the copy the ratio is about.
            None if quick else results["throughput"]["ratio_median"] <= 1.10,
        ),
        (
            "new recording: SignalWire / GCS requests",
            "2 / ≤ 4",
            f"{economy['new']['signalwire']} / {economy['new']['gcs']}",
            economy["new"]["signalwire"] == 2 and economy["new"]["gcs"] <= 4,
        ),
        (
            "duplicate: SignalWire / audio / GCS requests",
            "1 / 0 / ≤ 2",
            f"{economy['duplicate']['signalwire']} / {economy['duplicate']['audio_requests']} / "
            f"{economy['duplicate']['gcs']}",
            economy["duplicate"]["signalwire"] == 1
            and economy["duplicate"]["audio_requests"] == 0
            and economy["duplicate"]["gcs"] <= 2,
        ),
        (
            "import main vs dependencies",
            "≤ 1.20",
            f"{results['cold_start']['overhead_ratio']:.3f}",
            results["cold_start"]["overhead_ratio"] <= 1.20,
        ),
        (
            "concurrent callbacks archived",
            f"{results['concurrency']['callbacks']}",
            f"{results['concurrency']['archived']}",
            results["concurrency"]["archived"] == results["concurrency"]["callbacks"],
        ),
    ]
    return rows


def plot_answers(axes: Any, results: dict[str, Any]) -> None:
    """Callback answer time against recording size, inline beside queued."""
    rows = results["queued"]["answers"]
    sizes = [a["bytes"] / MiB for a in rows]
    axes.plot(sizes, [a["inline_s"] for a in rows], marker="o", label="inline")
    axes.plot(sizes, [a["queued_p99_s"] for a in rows], marker="o", label="queued (p99)")
    axes.axhline(5, color="grey", linestyle=":", label="SignalWire gives up (5 s)")
    axes.axhline(0.3, color="red", linestyle="--", label="target ≤ 0.3 s queued")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("recording size (MiB)")
    axes.set_ylabel("callback answer time (s)")
    axes.set_title("Callback answer vs recording size")
    axes.legend()


def answer_chart(results: dict[str, Any], path: Path) -> None:
    """The queued-mode run's own chart (`--queued-only`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(figsize=(6, 4))
    plot_answers(axes, results)
    fig.suptitle(f"{results['date']} · {results['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right, answers) = plt.subplots(1, 3, figsize=(15, 4))
    sizes = [m["bytes"] / MiB for m in results["memory"]]
    left.plot(sizes, [m["growth_mib"] for m in results["memory"]], marker="o", label="measured")
    left.axhline(32, color="red", linestyle="--", label="target ≤ 32 MiB")
    left.set_xscale("log")
    left.set_xlabel("recording size (MiB)")
    left.set_ylabel("worker peak RSS growth (MiB)")
    left.set_ylim(bottom=0)
    left.set_title("Memory vs recording size")
    left.legend()
    throughput = results["throughput"]
    ratios = [f / c for f, c in zip(throughput["function_s"], throughput["plain_copy_s"], strict=True)]
    right.bar(range(1, len(ratios) + 1), ratios)
    right.axhline(1.10, color="red", linestyle="--", label="target ≤ 1.10")
    right.set_xlabel("round")
    right.set_xticks(range(1, len(ratios) + 1))
    right.set_ylabel("function time / plain copy time")
    right.set_title(f"Throughput, {throughput['bytes'] / MB:.0f} MB recording")
    right.legend()
    plot_answers(answers, results)
    fig.suptitle(f"{results['date']} · {results['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run for CI, figures not recorded")
    parser.add_argument(
        "--queued-only",
        action="store_true",
        help="only cold start and the queued-mode rows; figures to bench/results-queued.json",
    )
    args = parser.parse_args()
    work = HERE / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    try:
        results = run(QUICK if args.quick else FULL, work, only_queued=args.queued_only)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = time.perf_counter() - started
    rows = targets(results, args.quick)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)}  target            measured    met")
    for name, target, measured, met in rows:
        if met is None:
            verdict = "" if target == "(shown)" else "not judged at smoke sizes"
        else:
            verdict = "yes" if met else "NO"
        print(f"{name.ljust(width)}  {target.ljust(16)}  {measured.ljust(10)}  {verdict}")
    print(f"\nfirst response after process start: {results['first_response_s']:.2f}s; total {results['wall_s']:.0f}s")
    if args.quick:
        return
    results["targets"] = [{"measure": n, "target": t, "measured": m, "met": ok} for n, t, m, ok in rows]
    if args.queued_only:
        (HERE / "results-queued.json").write_text(json.dumps(results, indent=2) + "\n")
        answer_chart(results, HERE / "results-queued.png")
        print("wrote bench/results-queued.json and bench/results-queued.png")
    else:
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        chart(results, HERE / "results.png")
        print("wrote bench/results.json and bench/results.png")


if __name__ == "__main__":
    main()
