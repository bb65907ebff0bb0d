"""Queued mode: callbacks, the sweep and `backfill --enqueue` create Cloud Tasks; `archive_task` archives.

The flow runs on real processes: gcloud-tasks-emulator (its own virtualenv) dispatching to a real
functions-framework worker, fake-gcs-server, the SignalWire stand-in. What the emulator cannot show
(it keeps no task names) runs against `tests.tasks_stub`, a gRPC endpoint that does.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from google.cloud import storage

from archiver import cli
from archiver.tasks import task_id
from archiver.webhook import Reply, handle_sweep, handle_task
from localspace.processes import ROOT, free_port
from localspace.space import Fault, Space
from tests.helpers import (
    TASKS_LOCATION,
    WINDOW_ARGS,
    Harness,
    ServerCounts,
    StartFunction,
    audit_lines,
    callback,
    env_for,
    log_lines,
    per_object,
    signed_post,
)
from tests.tasks_stub import NamingQueue

WORKER_ACCOUNT = "tasks-invoker@test-project.iam.gserviceaccount.com"


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f}s")
        time.sleep(0.1)


def worked(path: Path) -> list[dict[str, Any]]:
    """The worker's audit lines for tasks (its readiness probe's 405 aside)."""
    return [line for line in log_lines(path) if "source" in line]


@pytest.fixture
def worker(space: Space, gcs_url: str, function_process: StartFunction) -> Callable[[str], tuple[str, Path]]:
    """Starts `archive_task` under functions-framework for an archive URI; returns (URL, log path)."""

    def start(archive_uri: str) -> tuple[str, Path]:
        env = env_for(space, ARCHIVE_URI=archive_uri, STORAGE_EMULATOR_HOST=gcs_url, GOOGLE_CLOUD_PROJECT="test")
        started = function_process("archive_task", **env)
        return started.url, started.log

    return start


class QueuedStack(NamedTuple):
    """A bucket, the worker archiving into it (its log), and the environment that queues tasks for that worker."""

    bucket: storage.Bucket
    worker_log: Path
    env: dict[str, str]


@pytest.fixture
def queued_stack(
    space: Space,
    gcs_url: str,
    gcs_client: storage.Client,
    tasks_emulator: str,
    tasks_queue: str,
    worker: Callable[[str], tuple[str, Path]],
) -> Callable[[str], QueuedStack]:
    """A fresh bucket (the archive at gs://BUCKET + `path`) and a worker process on it, behind the emulator's queue."""

    def make(path: str) -> QueuedStack:
        bucket = gcs_client.create_bucket(f"queued-{uuid.uuid4().hex[:12]}")
        archive_uri = f"gs://{bucket.name}{path}"
        worker_url, worker_log = worker(archive_uri)
        queued = {
            "TASKS_QUEUE": tasks_queue,
            "TASKS_WORKER_URL": worker_url,
            "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator,
        }
        return QueuedStack(
            bucket, worker_log, env_for(space, ARCHIVE_URI=archive_uri, STORAGE_EMULATOR_HOST=gcs_url, **queued)
        )

    return make


@pytest.fixture
def naming_queue() -> Iterator[NamingQueue]:
    stub = NamingQueue().start()
    yield stub
    stub.stop()


def stub_harness(make_harness: Callable[..., Harness], stub: NamingQueue, **env: str) -> Harness:
    return make_harness(
        TASKS_QUEUE=f"{TASKS_LOCATION}/queues/archive",
        TASKS_WORKER_URL="https://worker.example.com/archive_task",
        TASKS_SERVICE_ACCOUNT=WORKER_ACCOUNT,
        CLOUD_TASKS_EMULATOR_HOST=stub.host,
        TASKS_DISPATCH_DEADLINE_SECONDS="900",
        **env,
    )


def summary_row(out: str, name: str) -> str:
    """A value from backfill's summary table."""
    match = re.search(rf"^  {name} +(.+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


def objects(bucket: storage.Bucket) -> dict[str, storage.Blob]:
    return {blob.name: blob for blob in bucket.list_blobs()}


def test_callback_is_queued_and_the_worker_archives_the_exact_bytes(
    space: Space, queued_stack: Callable[[str], QueuedStack], function_process: StartFunction
) -> None:
    bucket, worker_log, env = queued_stack("/rec")
    env |= {"PUBLIC_URL": "", "TASKS_SERVICE_ACCOUNT": WORKER_ACCOUNT}
    # As infra deploys it: the queued callback function is given no API token, and needs none.
    env |= {"FUNCTION_TARGET": "archive_recording", "SIGNALWIRE_API_TOKEN": ""}
    hook = function_process(**env)
    hook_url = hook.url
    rec = space.add(size=1_800_000)
    response = signed_post(hook_url, callback(space, rec.sid))
    assert response.status_code == 200, response.text
    assert response.json() == {"outcome": "queued", "recording_sid": rec.sid}
    base = f"rec/{space.project_id}/{rec.created:%Y/%m/%d}/{rec.sid}"
    wait_until(lambda: f"{base}.json" in objects(bucket))
    assert objects(bucket)[f"{base}.mp3"].download_as_bytes() == rec.audio()

    # The emulator keeps no names, so a late duplicate makes a second task: it downloads nothing.
    assert signed_post(hook_url, callback(space, rec.sid)).json()["outcome"] == "queued"
    wait_until(lambda: len(worked(worker_log)) == 2)
    assert space.count("media", rec.sid) == 1
    assert [(line["outcome"], line["http_status"], line["source"]) for line in worked(worker_log)] == [
        ("archived", 200, "callback"),
        ("already_archived", 200, "callback"),
    ]
    hooked = [line for line in log_lines(hook.log) if "callback_status" in line]
    assert [(line["outcome"], line["task_id"]) for line in hooked] == [("queued", task_id(rec.sid))] * 2


def test_duplicate_callbacks_make_one_task(make_harness: Callable[..., Harness], naming_queue: NamingQueue) -> None:
    harness = stub_harness(make_harness, naming_queue)
    rec = harness.space.add()
    answers = [harness.post(harness.form(rec.sid)) for _ in range(3)]
    answers.append(harness.post(harness.form(rec.sid.upper())))
    assert [(a.status, a.body["outcome"]) for a in answers] == [(200, "queued")] + [(200, "already_queued")] * 3
    assert len(naming_queue.requests) == 4
    name = f"{TASKS_LOCATION}/queues/archive/tasks/{task_id(rec.sid)}"
    assert list(naming_queue.tasks) == [name]
    other = harness.space.add()
    assert harness.post(harness.form(other.sid)).body["outcome"] == "queued"
    assert len(naming_queue.tasks) == 2

    task = naming_queue.tasks[name]
    assert task.http_request.url == "https://worker.example.com/archive_task"
    assert task.http_request.http_method.name == "POST"
    assert json.loads(task.http_request.body) == {"recording_sid": rec.sid, "source": "callback", "api": "laml"}
    assert task.http_request.oidc_token.service_account_email == WORKER_ACCOUNT
    assert task.http_request.oidc_token.audience == "https://worker.example.com/archive_task"
    # infra sets TASKS_DISPATCH_DEADLINE_SECONDS from worker_timeout_seconds: the task carries it.
    assert task.dispatch_deadline.total_seconds() == 900
    assert harness.space.count() == 0  # the callback asked SignalWire nothing


def test_enqueue_failure_answers_503_with_an_error_line(
    make_harness: Callable[..., Harness], tasks_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    worker_url = "http://127.0.0.1:9/archive_task"
    missing_queue = make_harness(
        TASKS_QUEUE=f"{TASKS_LOCATION}/queues/never-created",
        TASKS_WORKER_URL=worker_url,
        CLOUD_TASKS_EMULATOR_HOST=tasks_emulator,
    )
    unreachable = make_harness(
        TASKS_QUEUE=f"{TASKS_LOCATION}/queues/archive",
        TASKS_WORKER_URL=worker_url,
        CLOUD_TASKS_EMULATOR_HOST=f"127.0.0.1:{free_port()}",
    )
    capsys.readouterr()
    for harness, cause in ((missing_queue, "FailedPrecondition"), (unreachable, "")):
        rec = harness.space.add()
        reply = harness.post(harness.form(rec.sid))
        assert reply.status == 503
        assert (reply.body["outcome"], reply.body["error"]) == ("failed", "enqueue_failed")
        [line] = audit_lines(capsys.readouterr().out)
        assert line["severity"] == "ERROR"
        assert line["outcome"] == "failed"
        assert line["http_status"] == 503
        assert line["error"].startswith(f"enqueue failed: {cause}")
        assert harness.space.count() == 0


def task_request(harness: Harness, body: dict[str, Any] | bytes, method: str = "POST") -> Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-CloudTasks-TaskRetryCount": "2"}
    return handle_task(harness.service, method, headers, io.BytesIO(raw))


def test_worker_answers_2xx_when_done_503_when_a_retry_can_help_200_when_it_cannot(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    space = harness.space
    rec, absent, flaky, refused = space.add(), space.add(status="absent", size=0), space.add(), space.add()
    space.fault(flaky.sid, "json", *[Fault(503)] * 1000)
    space.fault(refused.sid, "json", Fault(403))
    capsys.readouterr()

    def answer(sid: str, **extra: str) -> tuple[int, str, bool | None, str | None]:
        reply = task_request(harness, {"recording_sid": sid, "source": "callback", **extra})
        return reply.status, reply.body["outcome"], reply.body.get("retryable"), reply.body.get("error")

    assert answer(rec.sid) == (200, "archived", None, None)
    audio_key = harness.archiver.keys_of(rec.sid, {"date_created": rec.metadata()["date_created"]}).audio
    assert b"".join(harness.store.iter_bytes(audio_key)) == rec.audio()
    asked = space.count()
    assert answer(rec.sid, date_created=rec.metadata()["date_created"]) == (200, "already_archived", None, None)
    assert space.count() == asked  # the listed date found the archive: SignalWire not asked
    assert answer(absent.sid) == (200, "no_audio", None, None)
    assert answer(flaky.sid) == (503, "failed", True, "signalwire_unavailable")
    assert answer(refused.sid) == (200, "failed", False, "signalwire_refused")

    lines = [line for line in audit_lines(capsys.readouterr().out) if line.get("outcome")]
    assert [(line["outcome"], line["severity"], line["http_status"]) for line in lines] == [
        ("archived", "INFO", 200),
        ("already_archived", "INFO", 200),
        ("no_audio", "INFO", 200),
        ("failed", "ERROR", 503),
        ("failed", "ERROR", 200),
    ]
    assert lines[-1]["retryable"] is False
    assert "HTTP 403" in lines[-1]["error"]
    assert {line["task_retry_count"] for line in lines} == {2}


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"not json", 400, "task body is not JSON"),
        (b"[]", 400, "task body is not a JSON object"),
        ({"recording_sid": "../../etc", "source": "callback"}, 400, "recording_sid is missing"),
        ({"recording_sid": str(uuid.uuid4()), "source": "cron"}, 400, "source must be one of"),
        ({"recording_sid": str(uuid.uuid4()), "source": "sweep", "api": "rest"}, 400, "api must be one of"),
        (
            {"recording_sid": str(uuid.uuid4()), "source": "sweep", "date_created": "yesterday"},
            400,
            "date_created is not a date",
        ),
        ({"recording_sid": str(uuid.uuid4()), "source": "sweep", "delete": True}, 400, "unknown fields: delete"),
        (b"x" * 70_000, 413, "body over"),
    ],
)
def test_worker_refuses_a_malformed_task_and_touches_nothing(
    harness: Harness, body: dict[str, Any] | bytes, status: int, reason: str
) -> None:
    reply = task_request(harness, body)
    assert (reply.status, reply.body["outcome"]) == (status, "rejected")
    assert reason in reply.body["reason"]
    assert harness.space.count() == 0
    assert task_request(harness, {}, method="GET").status == 405


def test_the_queue_retries_the_worker_until_signalwire_recovers(
    make_harness: Callable[..., Harness],
    tasks_emulator: str,
    tasks_queue: str,
    worker: Callable[[str], tuple[str, Path]],
) -> None:
    archive_uri = f"gs://retried-{uuid.uuid4().hex[:12]}/calls"
    worker_url, worker_log = worker(archive_uri)
    harness = make_harness(
        ARCHIVE_URI=archive_uri,
        TASKS_QUEUE=tasks_queue,
        TASKS_WORKER_URL=worker_url,
        CLOUD_TASKS_EMULATOR_HOST=tasks_emulator,
    )
    rec = harness.space.add()
    # More 503s than one worker attempt outlasts within its 1.5 s retry budget, fewer than the queue's retries.
    harness.space.fault(rec.sid, "json", *[Fault(503)] * 8)
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "queued"
    wait_until(lambda: any(line["outcome"] == "archived" for line in worked(worker_log)))
    answers = [(line["outcome"], line["http_status"]) for line in worked(worker_log)]
    assert answers[0] == ("failed", 503)
    assert answers[-1] == ("archived", 200)
    assert set(answers[:-1]) == {("failed", 503)}


def test_sweep_enqueues_what_is_missing_instead_of_archiving(
    make_harness: Callable[..., Harness], naming_queue: NamingQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = stub_harness(make_harness, naming_queue)
    space = harness.space
    at = [datetime(2026, 11, day, 12, tzinfo=UTC) for day in range(2, 7)]
    done = [space.add(size=20_000, created=at[0]), space.add(size=20_000, created=at[1])]
    missing = [space.add(size=2_000_000, created=at[2]), space.add(size=30_000, status="stopped", created=at[3])]
    space.add(size=0, status="absent", created=at[4])
    for rec in done:
        assert harness.archiver.archive(rec.sid).outcome == "archived"
    media_before = space.count("media")
    capsys.readouterr()

    window = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(window))
    assert reply.status == 200, reply.body
    assert reply.body["outcome"] == "sweep_ok"
    assert (reply.body["queued"], reply.body["already_queued"], reply.body["already_archived"]) == (2, 0, 2)
    assert reply.body["archived"] == 0
    assert reply.body["skipped"] == {"absent": 1}
    assert space.count("media") == media_before  # nothing downloaded: the workers will
    bodies = {json.loads(task.http_request.body)["recording_sid"]: task for task in naming_queue.tasks.values()}
    assert set(bodies) == {rec.sid for rec in missing}
    for rec in missing:
        body = json.loads(bodies[rec.sid].http_request.body)
        created = rec.metadata()["date_created"]
        assert body == {"recording_sid": rec.sid, "source": "sweep", "date_created": created, "api": "laml"}
    summary = [line for line in audit_lines(capsys.readouterr().out) if line.get("message") == "sweep finished"]
    assert summary[0]["missed_by_callbacks"] == 2

    again = handle_sweep(harness.service, "POST", {}, io.BytesIO(window))
    assert (again.body["queued"], again.body["already_queued"]) == (0, 2)


def test_queued_sweep_reads_only_what_the_listing_shows_missing(
    make_harness: Callable[..., Harness], naming_queue: NamingQueue, gcs_workdir: Path
) -> None:
    harness = stub_harness(make_harness, naming_queue)
    done = harness.space.add(created=datetime(2026, 11, 2, 12, tzinfo=UTC))
    missing = harness.space.add(created=datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert harness.archiver.archive(done.sid).outcome == "archived"
    counts = ServerCounts(harness, gcs_workdir)
    counts.start()
    window = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(window))
    assert (reply.body["queued"], reply.body["already_archived"]) == (1, 1)
    looked_at = " ".join(per_object(counts.gcs(), counts.bucket))
    assert missing.sid in looked_at and done.sid not in looked_at


def test_a_queued_sweep_names_the_objects_of_an_archive_it_finds_corrupt(
    make_harness: Callable[..., Harness], naming_queue: NamingQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest whose audio is gone: the queued sweep's `corrupt` line names both objects, as the inline sweep's
    does, and queues nothing. Before: the line carried the error only."""
    harness = stub_harness(make_harness, naming_queue)
    rec = harness.space.add(size=20_000, created=datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    audio_key, meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())
    audio = harness.store.stat(audio_key)
    assert audio is not None
    harness.store.delete(audio_key, audio.generation)
    capsys.readouterr()
    window = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(window))
    assert (reply.body["queued"], len(reply.body["corrupt"])) == (0, 1), reply.body
    (line,) = [line for line in audit_lines(capsys.readouterr().out) if line.get("recording_sid") == rec.sid]
    assert line["outcome"] == "corrupt" and "is missing" in line["error"]
    assert (line["audio_uri"], line["metadata_uri"]) == (harness.store.uri(audio_key), harness.store.uri(meta_key))
    assert naming_queue.tasks == {}


def test_queued_sweep_finishes_what_archived_recordings_still_need(
    make_harness: Callable[..., Harness], naming_queue: NamingQueue
) -> None:
    """What docs/operations.md promises in every mode: the next sweep retries a failed delete at SignalWire
    and completes a missing retention, here, without a task (nothing is left to fetch)."""
    harness = stub_harness(make_harness, naming_queue, DELETE_AFTER_ARCHIVE="true")
    undeleted = harness.space.add(created=datetime(2026, 11, 2, 12, tzinfo=UTC))
    harness.space.fault(undeleted.sid, "delete", *[Fault(403)] * 3)
    first = harness.archiver.archive(undeleted.sid)
    assert first.outcome == "archived" and not first.deleted
    assert undeleted.sid in harness.space.recordings
    harness.space.faults.clear()

    window = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(window))
    assert reply.status == 200, reply.body
    assert (reply.body["deleted"], reply.body["queued"], reply.body["already_archived"]) == (1, 0, 1)
    assert undeleted.sid not in harness.space.recordings and naming_queue.tasks == {}

    plain = stub_harness(make_harness, naming_queue)
    retaining_env = stub_harness(make_harness, naming_queue, OBJECT_RETENTION_DAYS="7")
    retaining = Harness(retaining_env.space, plain.store, retaining_env.settings)
    unretained = retaining.space.add(created=datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert plain.archiver.archive(unretained.sid).retained_until is None  # archived before retention was on
    reply = handle_sweep(retaining.service, "POST", {}, io.BytesIO(window))
    assert reply.status == 200 and reply.body["queued"] == 0
    again = retaining.archiver.archive(unretained.sid)
    assert again.outcome == "already_archived" and again.retained_until is not None


def test_sweep_process_enqueues_and_the_worker_archives(
    space: Space, queued_stack: Callable[[str], QueuedStack], function_process: StartFunction
) -> None:
    bucket, worker_log, env = queued_stack("")
    url = function_process("reconcile_recordings", **env).url
    recs = [space.add(size=25_000) for _ in range(3)]
    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}
    response = requests.post(url, json=window, timeout=60)
    assert response.status_code == 200, response.text
    assert (response.json()["queued"], response.json()["archived"]) == (3, 0)
    wait_until(lambda: len(objects(bucket)) == 6)
    # The audit line follows the manifest's write: the objects can be there a moment before it is.
    wait_until(lambda: {line["recording_sid"] for line in worked(worker_log)} == {rec.sid for rec in recs})
    assert {line["source"] for line in worked(worker_log)} == {"sweep"}
    again = requests.post(url, json=window, timeout=60).json()
    assert (again["already_archived"], again["queued"]) == (3, 0)
    assert space.count("media") == 3


def test_backfill_enqueue_fans_out_and_resumes(
    make_harness: Callable[..., Harness],
    tasks_emulator: str,
    tasks_queue: str,
    worker: Callable[[str], tuple[str, Path]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness = make_harness()
    worker_url, worker_log = worker(harness.settings.archive_uri)
    space = harness.space
    created = datetime(2026, 11, 10, tzinfo=UTC)
    recs = [space.add(size=40_000 + i, created=created) for i in range(6)]
    assert harness.archiver.archive(recs[0].sid).outcome == "archived"
    queued = {
        "ARCHIVE_URI": harness.settings.archive_uri,
        "TASKS_QUEUE": tasks_queue,
        "TASKS_WORKER_URL": worker_url,
        "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator,
        "GOOGLE_CLOUD_PROJECT": "test",
    }
    for key, value in env_for(space, **queued).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()

    assert cli.main(["backfill", *WINDOW_ARGS, "--enqueue", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert (summary_row(out, "queued"), summary_row(out, "already archived")) == ("5", "1")
    wait_until(lambda: sum(1 for line in worked(worker_log) if line["outcome"] == "archived") == 5)
    assert {line["source"] for line in worked(worker_log)} == {"backfill"}

    assert cli.main(["backfill", *WINDOW_ARGS, "--enqueue", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert (summary_row(out, "queued"), summary_row(out, "already archived")) == ("0", "6")
    assert space.count("media") == 6  # one download per recording, the first archived inline


def test_backfill_enqueue_needs_a_queue(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in env_for(harness.space, ARCHIVE_URI=harness.settings.archive_uri).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TASKS_QUEUE", raising=False)
    assert cli.main(["backfill", *WINDOW_ARGS, "--enqueue"]) == 2
    assert (
        capsys.readouterr().err == "error: --enqueue needs TASKS_QUEUE and TASKS_WORKER_URL (see docs/queued-mode.md)\n"
    )


@pytest.mark.parametrize("queued", [False, True])
def test_the_tasks_client_is_imported_only_in_queued_mode(queued: bool, tmp_path: Path) -> None:
    env = {
        "SIGNALWIRE_SPACE_URL": "http://127.0.0.1:9",
        "SIGNALWIRE_PROJECT_ID": str(uuid.uuid4()),
        "SIGNALWIRE_API_TOKEN": "x",
        "ARCHIVE_URI": str(tmp_path / "archive"),
        "PATH": "/usr/bin:/bin",
    }
    if queued:
        env |= {"TASKS_QUEUE": f"{TASKS_LOCATION}/queues/q", "TASKS_WORKER_URL": "https://w.example.com/"}
    code = "import sys, main; print('google.cloud.tasks_v2' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == str(queued)


def test_a_swml_event_becomes_a_relay_task_and_the_worker_archives_from_relay(
    make_harness: Callable[..., Harness], naming_queue: NamingQueue
) -> None:
    """The task names the API its recording belongs to: the worker asks RELAY REST, never LaML."""
    queued = stub_harness(make_harness, naming_queue)
    rec = queued.space.add(size=60_000, api="relay", fmt="wav")
    reply = queued.post_event(queued.space.event(rec))
    assert (reply.status, reply.body["outcome"]) == (200, "queued")
    (task,) = naming_queue.tasks.values()
    body = json.loads(task.http_request.body)
    assert body == {"recording_sid": rec.sid, "source": "callback", "api": "relay"}

    worker = make_harness()  # an inline deployment on the same space: the worker
    answer = task_request(worker, body)
    assert (answer.status, answer.body["outcome"]) == (200, "archived")
    assert queued.space.count("json") == 0 and queued.space.count("relay-json") == 1
