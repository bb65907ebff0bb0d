"""Queued mode against inline: callback answer times, SignalWire's delivery of a large recording, backfill.

Runs on the same fake-gcs-server and stand-in as the rest of `make bench`, plus gcloud-tasks-emulator
(from `.venv-tasks`), an `archive_task` worker and a second `archive_recording` in queued mode.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import requests

from bench.common import MB, Bench, logger
from localspace.processes import ROOT, create_tasks_queue, start_function, start_tasks_emulator, tasks_client

QUEUE = "projects/bench-project/locations/here/queues/archive"
# SignalWire's delivery of a status callback (../shared/reference/signalwire-facts.md).
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, ATTEMPTS = 2.0, 5.0, 3
POOL_DAY, QUEUE_DAY = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
# Listing windows exclude their start (`DateCreated>`): the backfill recordings begin an hour into the day.
_INTO_DAY = timedelta(hours=1)
log = logger("bench")


class Plan:
    """The recordings the queued rows need, registered with the stand-in before it starts."""

    def __init__(self, bench: Bench, plan: dict[str, Any]) -> None:
        self.answers = {
            size: [bench.recording(size) for _ in range(plan["answer_samples"])] for size in plan["answer_sizes"]
        }
        self.inline = {size: bench.recording(size) for size in plan["answer_sizes"]}
        self.delivery = {mode: bench.recording(plan["delivery_size"]) for mode in ("inline", "queued")}
        count, size = plan["backfill_count"], plan["backfill_size"]
        self.pool = [bench.recording(size, created=POOL_DAY + _INTO_DAY + timedelta(seconds=i)) for i in range(count)]
        self.queued = [
            bench.recording(size, created=QUEUE_DAY + _INTO_DAY + timedelta(seconds=i)) for i in range(count)
        ]


def audit_lines(path: Path, **match: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if all(line.get(k) == v for k, v in match.items())]


def tasks_requests(path: Path) -> int:
    """Requests the queue served or made: tasks created, and dispatches to the worker (emulator's log)."""
    text = path.read_text()
    return text.count("[TASKS] Created task") + text.count("[TASKS] Requesting ")


def has_lines(path: Path, sid: str, count: int) -> bool:
    return len(audit_lines(path, recording_sid=sid)) >= count


def all_archived(path: Path, sids: set[str]) -> bool:
    done = {line["recording_sid"] for line in audit_lines(path, source="backfill", outcome="archived")}
    return sids <= done


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done within {timeout:.0f}s")
        time.sleep(0.2)


def deliver(url: str, fields: dict[str, str], headers: dict[str, str]) -> tuple[int, int | None]:
    """SignalWire's delivery: 2 s to connect, 5 s to answer, up to 3 attempts, the next right after a failure."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = requests.post(url, data=fields, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        except requests.Timeout:
            continue
        if response.status_code < 300:
            return attempt, response.status_code
    return ATTEMPTS, None


def run(
    bench: Bench, plan: dict[str, Any], recordings: Plan, inline_url: str, memory: list[dict[str, Any]]
) -> dict[str, Any]:
    work = bench.work
    emulator, host = start_tasks_emulator(work / "tasks-emulator.log", max_retries=3)
    bench.processes.append(emulator)
    create_tasks_queue(host, QUEUE)
    client = tasks_client(host)
    worker, worker_url = start_function(bench.env(), target="archive_task", log_path=work / "worker.log")
    bench.processes.append(worker)
    queued_env = {
        **bench.env(),
        "TASKS_QUEUE": QUEUE,
        "TASKS_WORKER_URL": worker_url,
        "CLOUD_TASKS_EMULATOR_HOST": host,
    }
    hook, queued_url = start_function(queued_env, log_path=work / "queued.log")
    bench.processes.append(hook)
    results: dict[str, Any] = {}

    # 1. Answer time against size. The queue is paused so the timing is the callback's alone, as on
    # Cloud Functions, where the worker runs on other instances; the tasks are purged afterwards.
    client.pause_queue(name=QUEUE)
    inline_seconds = {m["bytes"]: m["seconds"] for m in memory}
    answers = []
    for size, sids in recordings.answers.items():
        times = []
        for sid in sids:
            code, seconds, body = bench.callback(queued_url, sid)
            assert code == 200 and body["outcome"] == "queued", body
            times.append(seconds)
        if size not in inline_seconds:
            code, seconds, body = bench.callback(inline_url, recordings.inline[size])
            assert code == 200 and body["outcome"] == "archived", body
            inline_seconds[size] = seconds
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        answers.append(
            {
                "bytes": size,
                "queued_p50_s": statistics.median(times),
                "queued_p99_s": p99,
                "inline_s": inline_seconds[size],
            }
        )
        log(f"answer: {size / MB:.0f} MB queued p99 {p99:.3f}s, inline {inline_seconds[size]:.2f}s")
    results["answers"] = answers
    client.purge_queue(name=QUEUE)
    client.resume_queue(name=QUEUE)

    # 2. SignalWire's delivery of one large recording, inline and queued.
    delivery = {}
    for mode, url, done_log in (
        ("inline", inline_url, work / "function.log"),
        ("queued", queued_url, work / "worker.log"),
    ):
        sid = recordings.delivery[mode]
        fields = {"AccountSid": bench.project, "RecordingSid": sid, "RecordingStatus": "completed"}
        media_before = bench.space_counts()["media"]
        started = time.perf_counter()
        attempts, answered = deliver(url, fields, bench.signed_headers(url, fields))
        # Every attempt SignalWire gave up on may still be archiving: wait for each to end.
        ends = attempts if mode == "inline" else 1
        wait_until(partial(has_lines, done_log, sid, ends), 1800, f"{mode} delivery")
        delivery[mode] = {
            "bytes": plan["delivery_size"],
            "attempts": attempts,
            "answered": answered,
            "downloads": bench.space_counts()["media"] - media_before,
            "outcomes": [line["outcome"] for line in audit_lines(done_log, recording_sid=sid)],
            "archived_after_s": time.perf_counter() - started,
        }
        log(f"delivery {mode}: {delivery[mode]}")
    results["delivery"] = delivery

    # 3. Backfill of many small recordings: the local pool against the queue and its worker.
    backfill = {}
    for mode, day, sids in (("pool", POOL_DAY, recordings.pool), ("queue", QUEUE_DAY, recordings.queued)):
        window = ["--since", day.date().isoformat(), "--until", (day + timedelta(days=1)).date().isoformat()]
        args = [sys.executable, "-m", "archiver", "backfill", *window, "--no-progress"]
        env = {**os.environ, **(queued_env if mode == "queue" else bench.env())}
        before_sw, before_gcs = sum(bench.space_counts().values()), bench.gcs_requests()
        before_tasks = tasks_requests(work / "tasks-emulator.log")
        started = time.perf_counter()
        subprocess.run(
            [*args, "--enqueue"] if mode == "queue" else args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True
        )
        enqueued_s = time.perf_counter() - started
        if mode == "queue":
            wait_until(partial(all_archived, work / "worker.log", set(sids)), 120 + len(sids), "queued backfill")
        seconds = time.perf_counter() - started
        count = len(sids)
        backfill[mode] = {
            "recordings": count,
            "seconds": seconds,
            "enqueue_seconds": enqueued_s if mode == "queue" else None,
            "recordings_per_s": count / seconds,
            "signalwire_per_recording": (sum(bench.space_counts().values()) - before_sw) / count,
            "gcs_per_recording": (bench.gcs_requests() - before_gcs) / count,
            "tasks_per_recording": (tasks_requests(work / "tasks-emulator.log") - before_tasks) / count,
        }
        log(f"backfill {mode}: {backfill[mode]}")
    results["backfill"] = backfill
    return results


def targets(queued: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    answers = queued["answers"]
    p99 = [a["queued_p99_s"] for a in answers]
    delivery, backfill = queued["delivery"], queued["backfill"]
    pool, queue = backfill["pool"], backfill["queue"]

    def economy(row: dict[str, Any]) -> str:
        return (
            f"{row['signalwire_per_recording']:.2f} / {row['gcs_per_recording']:.2f} / {row['tasks_per_recording']:.2f}"
        )

    return [
        (
            "queued callback answer p99 by size",
            "≤ 0.3 s, flat",
            " / ".join(f"{s:.3f}" for s in p99) + " s",
            max(p99) <= 0.3,
        ),
        ("inline callback answer by size", "(shown)", " / ".join(f"{a['inline_s']:.2f}" for a in answers) + " s", None),
        (
            f"{delivery['queued']['bytes'] / MB:.0f} MB delivery, queued: downloads / attempts",
            "1 / 1",
            f"{delivery['queued']['downloads']} / {delivery['queued']['attempts']}",
            delivery["queued"]["downloads"] == 1 and delivery["queued"]["attempts"] == 1,
        ),
        (
            f"{delivery['inline']['bytes'] / MB:.0f} MB delivery, inline: downloads / attempts",
            "(shown)",
            f"{delivery['inline']['downloads']} / {delivery['inline']['attempts']}",
            None,
        ),
        (
            f"backfill of {pool['recordings']}: recordings/s queue / pool",
            "(shown)",
            f"{queue['recordings_per_s']:.1f} / {pool['recordings_per_s']:.1f}",
            None,
        ),
        ("backfill requests per recording, queue: SignalWire / GCS / Tasks", "(shown)", economy(queue), None),
        ("backfill requests per recording, pool: SignalWire / GCS / Tasks", "(shown)", economy(pool), None),
    ]
