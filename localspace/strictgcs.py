"""A proxy in front of fake-gcs-server enforcing what real GCS enforces and the fake does not; injects faults."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import urllib3
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

_BLOCK = 64 * 1024
# Object resources, resumable-session openings and multipart heads are small; nothing larger is read whole.
_JSON_MAX = 1024 * 1024
# A listing page of 1,000 objects with their metadata is well under this.
_LISTING_MAX = 64 * 1024 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"})
# GCS's documented limit on writes to one object name (https://cloud.google.com/storage/quotas).
GCS_MUTATION_INTERVAL_S = 1.0
# Marks the proxy's own look-ups in the upstream's request log, so request counts show only the client's.
STATE_MARK = "strictgcs=state"

Key = tuple[str, str]


@dataclass
class Fault:
    """One scripted failure for the next matching request on one object name.

    `lose`: the mutation is committed upstream, then the client sees "reset" (the connection dropped)
    or "503". `throttle`: 429 before anything is done. `gone`: the next request in a resumable session
    for the name is answered 503 and the session is dead from then on (410 Gone, as GCS says of an
    expired session). `what` limits a `lose` or `throttle` to one kind of mutation: "write", "patch"
    or "delete" (None: the next of any kind).
    """

    kind: str
    answer: str = "reset"
    what: str | None = None


class Refusal(Exception):
    """What GCS would answer instead of doing the request: status, reason and message, GCS's error shape."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message

    def response(self) -> Response:
        error = {"code": self.status, "message": self.message}
        body = {"error": {**error, "errors": [{**error, "domain": "global", "reason": self.reason}]}}
        return Response(json.dumps(body), self.status, content_type="application/json; charset=UTF-8")


def _until(resource: dict[str, Any]) -> datetime | None:
    value = (resource.get("retention") or {}).get("retainUntilTime")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def check_replaceable(name: str, current: dict[str, Any] | None) -> None:
    """An object under a hold or an unexpired retention can be neither deleted nor overwritten."""
    if current is None:
        return
    for hold in ("temporaryHold", "eventBasedHold"):
        if current.get(hold):
            raise Refusal(403, "objectUnderActiveHold", f"Object '{name}' is under active {hold}.")
    until = _until(current)
    if until is not None and until > datetime.now(UTC):
        raise Refusal(
            403, "retentionPolicyNotMet", f"Object '{name}' is subject to object retention until {until.isoformat()}."
        )


def check_retention_patch(name: str, current: dict[str, Any], patch: dict[str, Any]) -> None:
    """A Locked retention can only be lengthened: never removed, unlocked or shortened."""
    if "retention" not in patch or (current.get("retention") or {}).get("mode") != "Locked":
        return
    old, new = _until(current), _until(patch) if patch["retention"] else None
    if (patch["retention"] or {}).get("mode") != "Locked" or new is None or (old is not None and new < old):
        raise Refusal(403, "forbidden", f"Object '{name}' has a Locked retention that can only be extended.")


class _Prefixed:
    """A stream whose first bytes were already read (to learn a multipart upload's object name)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = (self._head, b"") if size < 0 else (self._head[:size], self._head[size:])
            return out
        return bytes(self._rest.read(size))


def _read_until(stream: Any, done: Callable[[bytes], bool] = lambda _: False) -> bytes:
    """A small body, or a body's head, read to its end or until `done` says enough, never past _JSON_MAX.

    A socket read may return less than asked: one read() is not the whole of even a small body.
    """
    data = b""
    while len(data) < _JSON_MAX and not done(data):
        chunk = stream.read(min(_BLOCK, _JSON_MAX - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def _first_part_read(head: bytes) -> bool:
    return b"\r\n--" in head.partition(b"\r\n\r\n")[2]


def _multipart_resource(head: bytes) -> dict[str, Any]:
    """The object resource a multipart upload sends as its first part."""
    _, _, rest = head.partition(b"\r\n\r\n")
    document, _, _ = rest.partition(b"\r\n--")
    resource: dict[str, Any] = json.loads(document)
    return resource


def _reset(request: Request) -> None:
    """Drop the connection unanswered (a TCP reset): the client cannot tell whether anything happened."""
    sock: socket.socket = request.environ["werkzeug.socket"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)
    # werkzeug treats this as a dropped connection and answers nothing.
    raise ConnectionResetError("strictgcs: answer lost after commit")


def _drain(stream: Any) -> None:
    # A refusal is answered after the body is read: a client still sending would otherwise see a reset.
    while stream.read(_BLOCK):
        pass


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request is the upstream's to write (processes.gcs_requests reads it)."""


@dataclass
class _Session:
    key: Key
    args: dict[str, str]
    holds: dict[str, bool]
    gone: bool = False
    done: bytes | None = None


@dataclass
class _Incarnation:
    """One upload's object as real GCS numbers it: a metadata patch bumps the metageneration only.

    fake-gcs-server gives every patch a new generation; all of them name this same incarnation.
    """

    generations: set[int]
    metageneration: int = 1


class Objects:
    """What the proxy knows of each object name beyond the fake: holds, incarnations, last mutation time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._locks: dict[Key, threading.Lock] = defaultdict(threading.Lock)
        self._last_mutation: dict[Key, float] = {}
        # fake-gcs-server drops temporaryHold and eventBasedHold: they are kept here.
        self.holds: dict[Key, dict[str, bool]] = {}
        self._incarnations: dict[Key, _Incarnation] = {}

    def name_lock(self, key: Key) -> threading.Lock:
        with self.lock:
            return self._locks[key]

    def check_preconditions(self, key: Key, args: Mapping[str, str], current: dict[str, Any] | None) -> None:
        """ifGenerationMatch / ifGenerationNotMatch / ifMetagenerationMatch against the object as GCS numbers it."""
        generation = int(current["generation"]) if current else 0
        incarnation = self._incarnations.get(key) if current else None
        generations = {generation} | (incarnation.generations if incarnation else set())
        metageneration = (incarnation.metageneration if incarnation else 1) if current else 0
        failed = (
            ("ifGenerationMatch" in args and int(args["ifGenerationMatch"]) not in generations)
            or ("ifGenerationNotMatch" in args and int(args["ifGenerationNotMatch"]) in generations)
            or ("ifMetagenerationMatch" in args and int(args["ifMetagenerationMatch"]) != metageneration)
        )
        if failed:
            raise Refusal(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")

    def throttled(self, key: Key, interval_s: float | None) -> bool:
        """Whether this name was mutated less than `interval_s` ago (None: no limit)."""
        last = self._last_mutation.get(key)
        return interval_s is not None and last is not None and time.monotonic() - last < interval_s

    def record(self, key: Key, what: str, resource: dict[str, Any], holds: dict[str, bool]) -> None:
        """A mutation upstream accepted."""
        self._last_mutation[key] = time.monotonic()
        with self.lock:
            if what == "delete":
                self.holds.pop(key, None)
                self._incarnations.pop(key, None)
                return
            generation = int(resource.get("generation", 0))
            incarnation = self._incarnations.get(key)
            if what == "write" or incarnation is None:
                self.holds[key] = holds
                self._incarnations[key] = _Incarnation({generation})
            else:
                self.holds[key] = {**self.holds.get(key, {}), **holds}
                incarnation.generations.add(generation)
                incarnation.metageneration += 1

    def with_holds(self, key: Key, resource: dict[str, Any]) -> dict[str, Any]:
        return {**resource, **self.holds.get(key, {})}


class Upstream:
    """fake-gcs-server as the proxy reaches it: requests passed on as they came, answers streamed back
    with its address replaced by the proxy's and the holds it forgets put back."""

    def __init__(self, url: str, objects: Objects) -> None:
        self.url = url.rstrip("/")
        self.public_url = self.url
        self._objects = objects
        self._http = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=5, read=60))

    def forward(self, request: Request, body: Any = None) -> urllib3.BaseHTTPResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body is None and request.content_length:
            body = request.stream
        chunked = body is None and bool(request.environ.get("wsgi.input_terminated"))
        if chunked:
            body = iter(lambda: request.stream.read(_BLOCK), b"")
        return self._http.urlopen(
            request.method, self.url + _raw_uri(request), body=body, headers=headers, preload_content=False,
            decode_content=False, redirect=False, chunked=chunked,
        )  # fmt: skip

    def current(self, key: Key) -> dict[str, Any] | None:
        """The object as upstream holds it now, with the holds the fake forgets."""
        bucket, name = key
        answer = self._http.request("GET", f"{self.url}/storage/v1/b/{bucket}/o/{quote(name, safe='')}?{STATE_MARK}")
        if answer.status == 404:
            return None
        return self._objects.with_holds(key, json.loads(answer.data))

    def relay(self, answer: urllib3.BaseHTTPResponse, key: Key | None = None) -> Response:
        """The answer streamed through; one about a held object is read whole to put its holds back."""
        if key in self._objects.holds and answer.headers.get("Content-Type", "").startswith("application/json"):
            return self.resource(answer, self.read(answer), key)

        def stream() -> Iterator[bytes]:
            try:
                yield from answer.stream(_BLOCK, decode_content=False)
            finally:
                answer.release_conn()

        return Response(stream(), answer.status, self._headers(answer), direct_passthrough=True)

    def listing(self, answer: urllib3.BaseHTTPResponse, bucket: str) -> Response:
        """A page of a bucket's listing, with the holds the fake forgets put back on its items, as GCS lists them."""
        if answer.status >= 300 or not any(key[0] == bucket for key in self._objects.holds):
            return self.relay(answer)
        data = answer.read(_LISTING_MAX)
        answer.release_conn()
        page = json.loads(data)
        page["items"] = [self._objects.with_holds((bucket, item["name"]), item) for item in page.get("items", [])]
        headers = [(k, v) for k, v in self._headers(answer) if k.lower() != "content-length"]
        return Response(json.dumps(page).encode(), answer.status, headers)

    @staticmethod
    def read(answer: urllib3.BaseHTTPResponse) -> bytes:
        """A small answer (an object resource, an error, nothing), whole."""
        data = answer.read(_JSON_MAX)
        answer.release_conn()
        return bytes(data)

    def resource(self, answer: urllib3.BaseHTTPResponse, data: bytes, key: Key) -> Response:
        if data.strip() not in (b"", b"null") and answer.status < 300:
            data = json.dumps(self._objects.with_holds(key, json.loads(data))).encode()
        headers = [(k, v) for k, v in self._headers(answer) if k.lower() != "content-length"]
        return Response(data, answer.status, headers)

    def _headers(self, answer: urllib3.BaseHTTPResponse) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
        return [(k, v.replace(self.url, self.public_url) if k.lower() == "location" else v) for k, v in headers]


class StrictGcs:
    """Serves the GCS JSON API by forwarding to `upstream` (fake-gcs-server), enforcing on the way:
    preconditions at every upload's finalisation, holds and object retention on overwrite and delete,
    a Locked retention on patches, and (when `mutation_interval_s` is set, GCS_MUTATION_INTERVAL_S being
    GCS's own figure) 429 for a second mutation of one object name within that interval."""

    def __init__(self, upstream: str, *, mutation_interval_s: float | None = None) -> None:
        self.mutation_interval_s = mutation_interval_s
        self.objects = Objects()
        self._upstream = Upstream(upstream, self.objects)
        self._server: BaseWSGIServer | None = None
        self._sessions: dict[str, _Session] = {}
        self.faults: dict[Key, deque[Fault]] = defaultdict(deque)
        self.refused: list[tuple[str, int, str]] = []

    # --- control --------------------------------------------------------------------------
    def start(self, port: int = 0) -> StrictGcs:
        self._server = make_server("127.0.0.1", port, self.wsgi, threaded=True, request_handler=_Quiet)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._upstream.public_url = self.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def upstream(self) -> str:
        """The fake's own address, for showing what it does without the proxy."""
        return self._upstream.url

    def inject(self, bucket: str, name: str, fault: Fault) -> None:
        """Queue `fault` for the next request on `name` in `bucket` that it applies to."""
        with self.objects.lock:
            self.faults[(bucket, name)].append(fault)

    def _take(self, key: Key, kind: str, what: str | None = None) -> Fault | None:
        with self.objects.lock:
            queue = self.faults.get(key)
            if queue and queue[0].kind == kind and queue[0].what in (None, what):
                return queue.popleft()
            return None

    # --- serving --------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._route(request)
        except Refusal as refusal:
            _drain(request.stream)
            self.refused.append((request.path, refusal.status, refusal.reason))
            response = refusal.response()
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        parts = _raw_uri(request).partition("?")[0].split("/")
        # /upload/storage/v1/b/B/o and /storage/v1/b/B/o/NAME (the name percent-encoded as one segment)
        if parts[1:5] == ["upload", "storage", "v1", "b"] and parts[6:] == ["o"]:
            return self._upload(request, parts[5])
        if parts[1:4] == ["storage", "v1", "b"] and len(parts) == 7 and parts[5] == "o":
            key = (parts[4], unquote(parts[6]))
            if request.method in ("DELETE", "PATCH", "PUT"):
                what = "delete" if request.method == "DELETE" else "patch"
                return self._lose_maybe(request, key, what, self._mutate(request, key, what))
            return self._upstream.relay(self._upstream.forward(request), key)
        if parts[1:4] == ["storage", "v1", "b"] and parts[5:] == ["o"] and request.method == "GET":
            return self._upstream.listing(self._upstream.forward(request), parts[4])
        return self._upstream.relay(self._upstream.forward(request))

    def _upload(self, request: Request, bucket: str) -> Response:
        args = dict(request.args)
        kind = args.get("uploadType", "")
        if kind == "resumable" and "upload_id" in args:
            return self._resumable_chunk(request, args["upload_id"])
        if kind == "resumable":
            raw = _read_until(request.stream)
            resource = json.loads(raw or b"{}")
            key = (bucket, args.get("name") or str(resource.get("name", "")))
            response = self._upstream.relay(self._upstream.forward(request, raw))
            location = response.headers.get("Location", "")
            if "upload_id=" in location:
                upload_id = location.split("upload_id=", 1)[1].split("&", 1)[0]
                with self.objects.lock:
                    self._sessions[upload_id] = _Session(key, args, _holds_in(resource))
            return response
        if kind == "multipart":
            head = _read_until(request.stream, _first_part_read)
            resource = _multipart_resource(head)
            key = (bucket, args.get("name") or str(resource.get("name", "")))
            response = self._mutate(request, key, "write", _Prefixed(head, request.stream), _holds_in(resource))
            return self._lose_maybe(request, key, "write", response)
        key = (bucket, args.get("name", ""))
        return self._lose_maybe(request, key, "write", self._mutate(request, key, "write"))

    def _resumable_chunk(self, request: Request, upload_id: str) -> Response:
        session = self._sessions.get(upload_id)
        if session is None:
            return self._upstream.relay(self._upstream.forward(request))
        if session.gone:
            raise Refusal(410, "gone", "The resumable upload session has expired or was cancelled.")
        if self._take(session.key, "gone"):
            session.gone = True
            raise Refusal(503, "backendError", "Backend Error")
        if session.done is not None:
            # A finished session answers every later request with the object it created, as GCS does.
            _drain(request.stream)
            return Response(session.done, 200, content_type="application/json; charset=UTF-8")
        if not _finalises(request.headers.get("Content-Range", "")):
            return self._upstream.relay(self._upstream.forward(request))
        response = self._mutate(request, session.key, "write", None, session.holds, session.args)
        if response.status_code == 200:
            session.done = response.get_data()
        return self._lose_maybe(request, session.key, "write", response)

    def _mutate(
        self,
        request: Request,
        key: Key,
        what: str,
        body: Any = None,
        holds: dict[str, bool] | None = None,
        args: Mapping[str, str] | None = None,
    ) -> Response:
        """One "write", "patch" or "delete" of an object name, checked and done under that name's lock,
        so no other mutation of it comes between the check and the deed."""
        patch: dict[str, Any] = {}
        if what == "patch":
            body = _read_until(request.stream)
            patch = json.loads(body or b"{}")
            holds = _holds_in(patch)
        with self.objects.name_lock(key):
            current = self._upstream.current(key)
            self.objects.check_preconditions(key, args or request.args, current)
            if patch and current is not None:
                check_retention_patch(key[1], current, patch)
            elif what != "patch":
                check_replaceable(key[1], current)
            if self._take(key, "throttle", what) or self.objects.throttled(key, self.mutation_interval_s):
                raise Refusal(429, "rateLimitExceeded", "The object exceeded the rate limit for object mutations.")
            answer = self._upstream.forward(request, body)
            data = self._upstream.read(answer)
            if answer.status < 300:
                self.objects.record(key, what, json.loads(data or b"null") or {}, holds or {})
            return self._upstream.resource(answer, data, key)

    def _lose_maybe(self, request: Request, key: Key, what: str, response: Response) -> Response:
        """A committed mutation whose answer a "lose" fault swallows: a reset connection, or a 503."""
        lost = self._take(key, "lose", what) if response.status_code < 300 else None
        if lost is None:
            return response
        if lost.answer == "reset":
            _reset(request)
        raise Refusal(503, "backendError", "Backend Error")


def _holds_in(resource: dict[str, Any]) -> dict[str, bool]:
    return {hold: bool(resource[hold]) for hold in ("temporaryHold", "eventBasedHold") if hold in resource}


def _finalises(content_range: str) -> bool:
    """Whether a resumable PUT's Content-Range ("bytes a-b/total" or "bytes */total") ends the upload."""
    spans, _, total = content_range.removeprefix("bytes ").partition("/")
    if not total or total == "*":
        return False
    return spans == "*" or int(spans.rpartition("-")[2]) + 1 == int(total)


def _raw_uri(request: Request) -> str:
    """The path and query as the client sent them: object names keep their percent-encoded slashes."""
    return str(request.environ.get("RAW_URI") or request.full_path)
