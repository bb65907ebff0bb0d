"""`make bench`, hostile part: the worker's memory and answer time while a space misbehaves on purpose.

The SignalWire stand-in runs in this process and plays each attack; the function runs as a real
functions-framework process whose gunicorn worker's peak RSS (VmHWM) is read before and after.
Figures go to bench/hostile.json (full run only).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench.common import MB, TOKEN, Stack, logger, reset_peak, vm_hwm_kib, worker_pid
from localspace.processes import start_function
from localspace.space import Fault, Space

HERE = Path(__file__).resolve().parent
BUDGET_S = 10.0
FULL = {"json_bytes": 400 * MB, "max_recording_mb": 1024, "trickle_s": 20.0}
QUICK = {"json_bytes": 20 * MB, "max_recording_mb": 16, "trickle_s": 2.0}
GROWTH_TARGET_MIB = 32


log = logger("bench-hostile")


def run(plan: dict[str, Any], work: Path) -> list[dict[str, Any]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stand-in's request log
    space = Space(token=TOKEN).start()
    stack = Stack(work, "hostile", project=space.project_id)
    stack.space_url = space.url
    rows: list[dict[str, Any]] = []
    try:
        stack.start_gcs(log_level="warn")
        env = stack.env(RETRY_BUDGET_SECONDS=str(BUDGET_S), MAX_RECORDING_MB=str(plan["max_recording_mb"]))
        webhook, url = start_function(env, log_path=work / "webhook.log")
        # The endless stream goes to a local archive: the original attack filled a temp file on disk.
        local, local_url = start_function(env | {"ARCHIVE_URI": str(work / "archive")}, log_path=work / "local.log")
        sweeper, sweep_url = start_function(env, target="reconcile_recordings", log_path=work / "sweep.log")
        stack.processes += [webhook, local, sweeper]

        def callback(target: str, sid: str) -> tuple[int, dict[str, Any]]:
            status, _seconds, answer = stack.callback(target, sid)
            return status, answer

        def measure(name: str, process: Any, send: Any) -> None:
            worker = worker_pid(process.pid)
            reset_peak(worker)
            idle = vm_hwm_kib(worker)
            started = time.perf_counter()
            status, answer = send()
            seconds = time.perf_counter() - started
            growth = (vm_hwm_kib(worker) - idle) / 1024
            rows.append(
                {
                    "attack": name,
                    "status": status,
                    "answer": answer.get("error") or answer.get("outcome"),
                    "seconds": round(seconds, 2),
                    "growth_mib": round(growth, 1),
                }
            )
            log(f"{name}: {status} {rows[-1]['answer']} in {seconds:.1f}s, worker +{growth:.1f} MiB")

        big_json = space.add(size=10_000)
        space.fault(big_json.sid, "json", Fault(json_bytes=plan["json_bytes"]))
        measure(f"metadata JSON of {plan['json_bytes'] / MB:.0f} MB", webhook, lambda: callback(url, big_json.sid))

        endless = space.add(size=10_000)
        space.fault(endless.sid, "media", Fault(endless=True))
        space.fault(endless.sid, "head", Fault(no_length=True))
        measure(
            f"endless audio stream (MAX_RECORDING_MB={plan['max_recording_mb']}), local archive",
            local,
            lambda: callback(local_url, endless.sid),
        )
        leftovers = [p for p in (work / "archive").rglob("*") if p.is_file()] if (work / "archive").exists() else []
        rows[-1]["files_left"] = len(leftovers)

        trickle = space.add(size=200_000)
        space.fault(trickle.sid, "media", *[Fault(trickle_s=plan["trickle_s"])] * 100)
        measure(f"audio trickled 1 byte / {plan['trickle_s']:g} s", webhook, lambda: callback(url, trickle.sid))

        space.add(size=10_000, created=datetime(2026, 11, 20, tzinfo=UTC))
        space.fault("*", "list", Fault(json_bytes=plan["json_bytes"]))
        window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-28T00:00:00Z"}
        measure(
            f"list page of {plan['json_bytes'] / MB:.0f} MB (sweep)",
            sweeper,
            lambda: _answer(requests.post(sweep_url, json=window, timeout=3600)),
        )
    finally:
        stack.stop()
        space.stop()
    return rows


def _answer(response: requests.Response) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI; figures not recorded")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    work = HERE / "work-hostile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        rows = run(plan, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r["attack"]) for r in rows)
    print(f"\n{'attack'.ljust(width)}  answer                    seconds  worker growth  within bounds")
    failures = 0
    for row in rows:
        time_ok = row["seconds"] <= BUDGET_S + 6 or "stream" in row["attack"]
        ok = row["status"] >= 500 and row["growth_mib"] <= GROWTH_TARGET_MIB and time_ok
        ok = ok and row.get("files_left", 0) == 0
        failures += not ok
        answer = f"{row['status']} {row['answer']}"
        print(
            f"{row['attack'].ljust(width)}  {answer:<24}  {row['seconds']:>7.1f}  {row['growth_mib']:>8.1f} MiB  ",
            end="",
        )
        print("yes" if ok else "NO")
    print(
        f"targets: worker growth <= {GROWTH_TARGET_MIB} MiB; answered within RETRY_BUDGET_SECONDS ({BUDGET_S:g}) + 6 s"
    )
    if not args.quick:
        document = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "plan": plan, "rows": rows}
        (HERE / "hostile.json").write_text(json.dumps(document, indent=2) + "\n")
        print("wrote bench/hostile.json")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
