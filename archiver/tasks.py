"""Queued mode: one named Cloud Task per recording, created with the official client, and the body its worker reads."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from archiver.config import Settings, is_sid
from archiver.outcome import Outcome
from archiver.recordings import Api, Trigger, parse_date

# The callback must answer inside SignalWire's 5 s read timeout, enqueue retries included.
ENQUEUE_DEADLINE_S = 3.0
TRIGGERS = frozenset(Trigger)
# The SignalWire API a recording belongs to (archiver/laml.py, archiver/relay.py).
APIS = frozenset(Api)
_MAX_DATE = 64


def task_id(sid: str) -> str:
    """The one task name of a recording, whoever enqueues it, so duplicates meet ALREADY_EXISTS.

    A hash comes first because Cloud Tasks serves names with sequential prefixes more slowly, and a
    recording SID need not be random at its start.
    """
    sid = sid.lower()
    return f"{hashlib.sha256(sid.encode()).hexdigest()[:8]}-{sid}"


@dataclass(frozen=True)
class TaskBody:
    """What a task asks the worker: archive this recording of that API; `date_created` as a listing showed it."""

    recording_sid: str
    # Logged and sent as `source`.
    trigger: str
    date_created: str | None = None
    api: str = Api.LAML

    def to_json(self) -> bytes:
        body: dict[str, str] = {"recording_sid": self.recording_sid, "source": self.trigger, "api": self.api}
        if self.date_created:
            body["date_created"] = self.date_created
        return json.dumps(body).encode()

    @classmethod
    def parse(cls, raw: bytes) -> TaskBody:
        """ValueError naming what is wrong; nothing else of the body is used."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("task body is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("task body is not a JSON object")
        unknown = set(data) - {"recording_sid", "source", "date_created", "api"}
        if unknown:
            raise ValueError(f"task body has unknown fields: {', '.join(sorted(unknown))[:200]}")
        sid, trigger, created = data.get("recording_sid"), data.get("source"), data.get("date_created")
        api = data.get("api", Api.LAML)
        if api not in APIS:
            raise ValueError(f"api must be one of {', '.join(sorted(APIS))}")
        if not isinstance(sid, str) or not is_sid(sid):
            raise ValueError("recording_sid is missing or not a SignalWire SID")
        if trigger not in TRIGGERS:
            raise ValueError(f"source must be one of {', '.join(sorted(TRIGGERS))}")
        if created is not None:
            if not isinstance(created, str) or len(created) > _MAX_DATE:
                raise ValueError("date_created must be a short string")
            try:
                parse_date(created)
            except ValueError:
                raise ValueError("date_created is not a date") from None
        return cls(sid.lower(), trigger, created, api)


class TaskQueue:
    """Creates archive tasks on TASKS_QUEUE that POST to TASKS_WORKER_URL.

    The client library is imported here, so only queued mode pays for it at start-up; the client
    itself is built on first use, after gunicorn has forked (a gRPC channel must not cross a fork).
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.tasks_queue or not settings.tasks_worker_url:
            raise ValueError("queued mode needs TASKS_QUEUE and TASKS_WORKER_URL")
        from google.api_core import exceptions, retry
        from google.cloud import tasks_v2

        self.settings = settings
        self.queue = settings.tasks_queue
        self.worker_url = settings.tasks_worker_url
        self._tasks_v2 = tasks_v2
        self._already_exists = exceptions.AlreadyExists
        self._retry = retry.Retry(
            predicate=retry.if_exception_type(
                exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.InternalServerError
            ),
            initial=0.1,
            maximum=1.0,
            timeout=ENQUEUE_DEADLINE_S,
        )
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        host = self.settings.tasks_emulator_host
        if not host:
            # gRPC, the library's default: it measured no slower to import or build than REST (the
            # package imports every transport either way), and it is what the emulator tests speak.
            return self._tasks_v2.CloudTasksClient()
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        # A transport built on a ready channel ignores credentials: nothing looks for Google's.
        return self._tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(host)))

    def task(self, body: TaskBody) -> Any:
        tasks_v2 = self._tasks_v2
        request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=self.worker_url,
            headers={"Content-Type": "application/json"},
            body=body.to_json(),
        )
        if self.settings.tasks_service_account:
            request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self.settings.tasks_service_account, audience=self.worker_url
            )
        return tasks_v2.Task(
            name=f"{self.queue}/tasks/{task_id(body.recording_sid)}",
            http_request=request,
            # The worker's timeout (TASKS_DISPATCH_DEADLINE_SECONDS): a shorter deadline would have Cloud
            # Tasks retry a recording that is still streaming; a longer one outlives the worker.
            dispatch_deadline=timedelta(seconds=self.settings.tasks_dispatch_deadline_s),
        )

    def enqueue(self, sid: str, *, source: str, date_created: str | None = None, api: str = Api.LAML) -> Outcome:
        """`queued`, `already_queued` (a task of that name exists or ran within the hour), or `failed`."""
        sid = sid.lower()
        started = time.monotonic()
        word, error = "failed", None
        try:
            # A date the worker would refuse is left out: the worker then asks SignalWire for it.
            date = date_created if date_created and len(date_created) <= _MAX_DATE else None
            task = self.task(TaskBody(sid, source, date, api))
            self.client().create_task(parent=self.queue, task=task, retry=self._retry, timeout=ENQUEUE_DEADLINE_S)
            word = "queued"
        except self._already_exists:
            word = "already_queued"
        # Whatever stopped the enqueue (unreachable, refused, a deadline), the caller answers 503.
        except Exception as exc:
            error = f"enqueue failed: {type(exc).__name__}: {exc}"[:500]
        return Outcome(
            word,
            recording_sid=sid,
            account_sid=self.settings.project_id,
            task_id=task_id(sid),
            error=error,
            error_code=None if error is None else "enqueue_failed",
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )
