"""A local SignalWire space following the documented Recordings APIs (LaML, RELAY REST), injecting faults on demand.

Recordings made with `api="relay"` (SWML record_call / calling.record) are served only by the RELAY REST
API, as SignalWire's docs suggest; `event()` builds the JSON status event SignalWire would POST for one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from localspace.listing import Listing

API = "/api/laml/2010-04-01/Accounts/<account>"
RELAY = "/api/relay/rest/recordings"
# Where SignalWire's docs show RELAY audio: no extension (swml record_call.mdx and record.mdx, raw JSON examples).
RELAY_MEDIA = "/api/v1/recordings"
_BLOCK = 64 * 1024
# Statuses whose audio is served: LaML `completed`/`stopped`, RELAY `completed`/`finished`.
_FINAL = ("completed", "stopped", "finished")
# What real servers answer for each format: SignalWire's LaML media (as Twilio's) says audio/x-wav for wav;
# an .mp4 is commonly served as video/mp4. The docs state none of these: see docs/callbacks.md.
MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav", "mp4": "video/mp4"}
# Where a RELAY recording's `url` points: the space (documented), a second host serving presigned URLs
# (no credentials accepted), a second host that wants the credentials (SIGNALWIRE_MEDIA_HOSTS), or a
# path relative to the space.
MEDIA_PLACES = ("space", "presigned", "listed", "relative")
# How S3 answers a presigned URL that also carries an Authorization header.
_S3_TWO_AUTHS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code>'
    b"<Message>Only one auth mechanism allowed</Message></Error>"
)


def magic(fmt: str, size: int) -> bytes:
    """The first bytes of a file in `fmt`, as an encoder writes them, for audio generated here."""
    if fmt == "mp3":
        return b"ID3\x04\x00\x00\x00\x00\x00\x00"
    if fmt == "wav":
        return b"RIFF" + max(0, size - 8).to_bytes(4, "little") + b"WAVEfmt "
    return b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom"


# A response header the handler swallows: it makes the body end when the connection closes.
_CLOSE_DELIMITED = "X-Standin-Close-Delimited"


@dataclass
class Fault:
    """One scripted misbehaviour, used once, for the next matching request.

    `no_length` sends the body without Content-Length or chunked framing, so it ends when the
    connection closes (with `truncate_at`, a cut-off body that looks complete); `trickle_s` sends one
    byte per that many seconds, after `trickle_after` bytes at full speed; `endless` streams audio
    forever; `json_bytes` pads a JSON answer to that size; `next_page` replaces a list page's
    next_page_uri; `redirect` answers 302 to another host (on metadata: back to itself, with an endless
    body); `body` replaces a list page; `headers` are added to the answer as they are.
    """

    status: int = 200
    retry_after: str | None = None
    content_type: str | None = None
    truncate_at: int | None = None
    not_final: bool = False
    redirect: bool = False
    body: bytes = b""
    no_length: bool = False
    trickle_s: float | None = None
    trickle_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False
    json_bytes: int | None = None
    next_page: str | None = None


class _Handler(WSGIRequestHandler):
    def send_header(self, keyword: str, value: str) -> None:
        if keyword == _CLOSE_DELIMITED:
            # werkzeug chunks a body without a length only on HTTP/1.1; as 1.0 it ends at close.
            self.protocol_version = "HTTP/1.0"
            return
        super().send_header(keyword, value)


def _padded_json(document: dict[str, Any], size: int) -> Iterator[bytes]:
    """`document` with a padding member that brings it to about `size` bytes, generated as it is sent."""
    head = json.dumps(document)[:-1].encode() + b', "padding": "'
    remaining = max(0, size - len(head) - 2)
    while remaining > 0:
        piece = min(remaining, _BLOCK)
        yield b"x" * piece
        remaining -= piece
    yield b'"}'


def _trickle(chunks: Iterator[bytes], interval: float, after: int = 0) -> Iterator[bytes]:
    """The first `after` bytes at full speed, then one byte per `interval` seconds."""
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) <= after:
            sent += len(chunk)
            yield chunk
            continue
        for offset in range(len(chunk)):
            if sent >= after:
                time.sleep(interval)
            sent += 1
            yield chunk[offset : offset + 1]


@dataclass
class FakeRecording:
    sid: str
    account_sid: str
    size: int
    status: str = "completed"
    created: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 23, 59, 58, tzinfo=UTC))
    call_sid: str | None = field(default_factory=lambda: str(uuid.uuid4()))
    content: bytes | None = None
    # The media's Content-Type, when it should not be what real servers send for its format ("" sends none).
    content_type: str | None = None
    seed: int = 0
    # What the listing and metadata show as date_created, when it should not be the real date (a lie).
    listed_date: str | None = None
    # "laml" (cXML) or "relay" (SWML / Calling API). A RELAY recording's audio is in `fmt` (default
    # record_call's wav); a LaML one is served in whichever format its URL asks for (default mp3).
    api: str = "laml"
    fmt: str = ""
    # RELAY's byte_size, when it should not be the real size (a lie), or None to leave it out.
    byte_size: int | None = -1
    # Where a RELAY recording's `url` points: one of MEDIA_PLACES.
    media_place: str = "space"

    def __post_init__(self) -> None:
        self.fmt = self.fmt or ("wav" if self.api == "relay" else "mp3")

    def endless(self, fmt: str | None = None) -> Iterator[bytes]:
        block = self.block()
        return itertools.chain([magic(fmt or self.fmt, 0) + block], itertools.repeat(block))

    def block(self) -> bytes:
        return random.Random(self.seed or self.sid).randbytes(_BLOCK)

    def chunks(self, limit: int | None = None, fmt: str | None = None) -> Iterator[bytes]:
        """The audio in `fmt` (default its own), generated on the fly so a 1 GiB recording costs no memory here either.

        Generated audio starts as a file of that format does, so whatever looks at its first bytes sees it.
        """
        if self.content is not None:
            yield self.content[:limit]
            return
        block = self.block()
        remaining = self.size if limit is None else min(limit, self.size)
        head = magic(fmt or self.fmt, self.size)
        offset = 0
        while remaining > 0:
            piece = block[: min(_BLOCK, remaining)]
            # Mixing in the offset makes every block distinct, so a reordered chunk changes the digest.
            piece = offset.to_bytes(8, "big")[: len(piece)] + piece[8:] if len(piece) > 8 else piece
            if offset == 0 and self.size >= len(head):
                piece = head[: len(piece)] + piece[len(head) :]
            yield piece
            offset += len(piece)
            remaining -= len(piece)

    def audio(self, fmt: str | None = None) -> bytes:
        return b"".join(self.chunks(fmt=fmt))

    def media_type(self, fmt: str | None = None) -> str:
        return MEDIA_TYPES[fmt or self.fmt] if self.content_type is None else self.content_type

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    @property
    def uri_base(self) -> str:
        return f"/api/laml/2010-04-01/Accounts/{self.account_sid}"

    def metadata(self, space_status: str | None = None) -> dict[str, Any]:
        """The LaML Recording resource: every field compatibility-api/recordings/models/core.tsp lists."""
        stamp = format_datetime(self.created)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "call_sid": self.call_sid,
            "conference_sid": None,
            "channel": "1",
            "channels": "1",
            "date_created": self.listed_date or stamp,
            "date_updated": format_datetime(self.created + timedelta(seconds=4)),
            "start_time": stamp,
            "end_time": format_datetime(self.created + timedelta(seconds=4)),
            "duration": 4,
            "price": "-0.0025",
            "price_unit": "USD",
            "sid": self.sid,
            "source": "DialVerb",
            "status": space_status or self.status,
            "error_code": None,
            "uri": f"{self.uri_base}/Recordings/{self.sid}.json",
            "subresource_uris": {"transcriptions": f"{self.uri_base}/Recordings/{self.sid}/Transcriptions.json"},
            "encryption_details": None,
            "trim": "do-not-trim",
        }

    def media_url(self, space_url: str, other_url: str) -> str:
        """Where the RELAY resource and its events say the audio is, by `media_place`."""
        documented = f"{RELAY_MEDIA}/{self.sid}/download"
        if self.media_place == "relative":
            return documented
        if self.media_place == "presigned":
            return f"{other_url}/storage/{self.sid}.{self.fmt}?a={self.account_sid}&X-Amz-Signature=0ff1ce"
        return f"{other_url if self.media_place == 'listed' else space_url}{documented}"

    def relay_metadata(self, space_url: str, other_url: str = "") -> dict[str, Any]:
        """The RELAY REST recording resource (a PSTN recording), as signalwire/docs' spec describes it."""
        document: dict[str, Any] = {
            "id": self.sid,
            "project_id": self.account_sid,
            "created_at": self.created.isoformat().replace("+00:00", "Z"),
            "updated_at": (self.created + timedelta(seconds=4)).isoformat().replace("+00:00", "Z"),
            "duration_in_seconds": 4,
            "price": 0.0025,
            "price_unit": "USD",
            "status": self.status,
            "url": self.media_url(space_url, other_url),
            "stereo": False,
            "track": "both",
            "relay_pstn_leg_id": self.call_sid,
        }
        if self.byte_size is not None:
            document["byte_size"] = self.size if self.byte_size == -1 else self.byte_size
        return document


@dataclass
class Seen:
    method: str
    path: str
    port: int
    authorized: bool
    has_auth_header: bool
    query: str = ""


class Space:
    """The stand-in. Start it, add recordings, script faults, then read `requests` to see what was asked."""

    def __init__(self, project_id: str | None = None, token: str = "PT-test-token") -> None:
        self.project_id = project_id or str(uuid.uuid4())
        self.token = token
        self.recordings: dict[str, FakeRecording] = {}
        self.faults: dict[tuple[str, str], deque[Fault]] = defaultdict(deque)
        self.requests: list[Seen] = []
        self.deleted: list[str] = []
        # The list endpoints' switches (filter reading, page-size cap, token expiry, RELAY order and errors).
        self.listing = Listing()
        self._lock = threading.Lock()
        self._servers: list[BaseWSGIServer] = []
        self._urls = Map(
            [
                Rule(f"{API}/Recordings.json", endpoint="list", methods=["GET"]),
                Rule(f"{API}/Recordings/<sid>.json", endpoint="json", methods=["GET"]),
                Rule(f"{API}/Recordings/<sid>.<fmt>", endpoint="media", methods=["GET"]),
                Rule(f"{API}/Recordings/<sid>", endpoint="delete", methods=["DELETE"]),
                Rule(f"{API}/Recordings/<sid>", endpoint="media_wav", methods=["GET"]),
                Rule("/storage/<sid>.<fmt>", endpoint="storage", methods=["GET"]),
                Rule(RELAY, endpoint="relay_list", methods=["GET"]),
                Rule(f"{RELAY}/<sid>", endpoint="relay_json", methods=["GET"]),
                Rule(f"{RELAY}/<sid>", endpoint="relay_delete", methods=["DELETE"]),
                Rule(f"{RELAY_MEDIA}/<sid>/download", endpoint="relay_media", methods=["GET"]),
                Rule("/__stats", endpoint="stats", methods=["GET"]),
            ]
        )

    # --- scripting -------------------------------------------------------------------------
    def add(self, size: int = 300_000, **kwargs: Any) -> FakeRecording:
        sid = kwargs.pop("sid", None) or str(uuid.uuid4())
        recording = FakeRecording(sid=sid, account_sid=self.project_id, size=size, **kwargs)
        if recording.content is not None:
            recording.size = len(recording.content)
        self.recordings[sid] = recording
        return recording

    def fault(self, sid: str, kind: str, *faults: Fault) -> None:
        """Queue faults for `kind` in json, media, head, delete, or list / relay-list (sid '*')."""
        with self._lock:
            self.faults[(sid, kind)].extend(faults)

    def count(self, kind: str | None = None, sid: str | None = None) -> int:
        def matches(seen: Seen) -> bool:
            if sid and sid not in seen.path:
                return False
            if kind == "json":
                return seen.path.endswith(".json") and "/Recordings/" in seen.path
            if kind == "media":
                return seen.method == "GET" and (seen.path.endswith((".mp3", ".wav", ".mp4", "/download")))
            if kind == "relay-json":
                return seen.method == "GET" and seen.path.startswith(f"{RELAY}/")
            if kind == "relay-list":
                return seen.path == RELAY
            if kind == "head":
                return seen.method == "HEAD"
            if kind == "list":
                return seen.path.endswith("/Recordings.json")
            if kind == "delete":
                return seen.method == "DELETE"
            return True

        return sum(1 for seen in self.requests if matches(seen))

    # --- serving ---------------------------------------------------------------------------
    def start(self, port: int = 0, host: str = "127.0.0.1") -> Space:
        for p in (port, 0):
            server = make_server(host, p, self.wsgi, threaded=True, request_handler=_Handler)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_port}"

    @property
    def other_host_url(self) -> str:
        """A second listener standing for a separate media host that redirects may point at."""
        return f"http://127.0.0.1:{self._servers[1].server_port}"

    def _next_fault(self, sid: str, kind: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get((sid, kind))
            return queue.popleft() if queue else None

    def _authorized(self, request: Request) -> bool:
        auth = request.authorization
        return bool(auth and auth.username == self.project_id and auth.password == self.token)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        port = int(environ.get("SERVER_PORT") or 0)
        with self._lock:
            if request.path == "/__stats":
                return self._stats(request)(environ, start_response)
            self.requests.append(
                Seen(
                    request.method,
                    request.path,
                    port,
                    self._authorized(request),
                    "Authorization" in request.headers,
                    request.query_string.decode(errors="replace"),
                )
            )
        adapter = self._urls.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
        except Exception as exc:  # werkzeug's NotFound / MethodNotAllowed are WSGI responses
            return exc(environ, start_response)  # type: ignore[operator]
        response = getattr(self, f"_{endpoint}")(request, **args)
        return response(environ, start_response)

    @staticmethod
    def _error(status: int, message: str, retry_after: str | None = None) -> Response:
        response = Response(
            json.dumps({"code": status, "message": message}), status=status, mimetype="application/json"
        )
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def _apply(self, fault: Fault | None) -> Response | None:
        if fault is None or fault.status == 200:
            return None
        return self._error(fault.status, "scripted fault", fault.retry_after)

    def _guard(self, request: Request, account: str, sid: str, kind: str) -> tuple[Response | None, Fault | None]:
        """Basic auth for the API (media is public), then the next scripted fault for this request."""
        if not self._authorized(request) or account != self.project_id:
            return self._error(401, "Unauthorized"), None
        fault = self._next_fault(sid, kind)
        return self._apply(fault), fault

    def _laml(self, sid: str) -> FakeRecording | None:
        recording = self.recordings.get(sid)
        return recording if recording is not None and recording.api == "laml" else None

    def _list(self, request: Request, account: str) -> Response:
        refused, fault = self._guard(request, account, "*", "list")
        if refused is not None:
            return refused
        laml = [r for r in list(self.recordings.values()) if r.api == "laml"]
        body = self.listing.laml(request, laml, lambda r: r.metadata())
        if isinstance(body, Response):
            return body
        if fault is not None and fault.next_page:
            body["next_page_uri"] = fault.next_page
        if fault is not None and fault.json_bytes:
            return Response(_padded_json(body, fault.json_bytes), mimetype="application/json")
        if fault is not None and fault.body:
            return Response(fault.body, mimetype="application/json", headers=fault.headers)
        return Response(json.dumps(body), mimetype="application/json")

    def _json(self, request: Request, account: str, sid: str) -> Response:
        refused, fault = self._guard(request, account, sid, "json")
        if refused is not None:
            return refused
        recording = self._laml(sid)
        if recording is None:
            return self._error(404, "Not Found")
        status = "in-progress" if fault is not None and fault.not_final else None
        if fault is not None and fault.redirect:
            # The next request for the same path has no fault left: only the redirect's body is endless.
            endless = itertools.repeat(b"x" * _BLOCK)
            return Response(endless, status=302, headers={"Location": request.path}, mimetype="text/plain")
        if fault is not None and fault.json_bytes:
            return Response(_padded_json(recording.metadata(status), fault.json_bytes), mimetype="application/json")
        document = json.dumps(recording.metadata(status), indent=2).encode()
        if fault is not None and fault.trickle_s:
            return Response(_trickle(iter([document]), fault.trickle_s), mimetype="application/json")
        return Response(document, mimetype="application/json")

    def _media(self, request: Request, account: str, sid: str, fmt: str, *, redirected: bool = False) -> Response:
        # LaML serves mp3 or wav (compatibility-api/recordings/main.tsp); a presigned store serves what it holds.
        if account != self.project_id or fmt not in (MEDIA_TYPES if redirected else ("mp3", "wav")):
            return self._error(404, "Not Found")
        recording = self.recordings.get(sid)
        if recording is not None and recording.api != "laml" and not redirected:
            recording = None
        kind = "head" if request.method == "HEAD" else "media"
        fault = None if redirected else self._next_fault(sid, kind)
        if (scripted := self._apply(fault)) is not None:
            return scripted
        if recording is None or recording.status not in _FINAL:
            return self._error(404, "Not Found")
        return self._serve(recording, fmt, fault)

    def _media_wav(self, request: Request, account: str, sid: str) -> Response:
        """A recording URI without an extension answers WAV (compatibility-api/recordings/main.tsp 89-94)."""
        return self._media(request, account, sid, "wav")

    def _serve(self, recording: FakeRecording, fmt: str, fault: Fault | None) -> Response:
        """The audio in `fmt`, with what `fault` scripts: a redirect to the presigned host, another type, a cut."""
        if fault is not None and fault.redirect:
            where = f"{self.other_host_url}/storage/{recording.sid}.{fmt}?a={recording.account_sid}"
            return Response(status=302, headers={"Location": where})
        if fault is not None and fault.content_type is not None and fault.body:
            return self._typed(Response(fault.body), fault.content_type)
        limit = fault.truncate_at if fault is not None else None
        headers = {"Content-Length": str(recording.size), "Accept-Ranges": "bytes"}
        if limit is not None:
            # Announce the whole length, send less, then hang up: what a cut connection looks like.
            headers["Connection"] = "close"
        body: Iterator[bytes] = recording.chunks(limit, fmt)
        if fault is not None and fault.endless:
            del headers["Content-Length"]
            body = recording.endless(fmt)
        if fault is not None and fault.no_length:
            del headers["Content-Length"]
            headers[_CLOSE_DELIMITED] = "1"
        if fault is not None and fault.trickle_s:
            body = _trickle(body, fault.trickle_s, fault.trickle_after)
        headers |= fault.headers if fault is not None else {}
        response = Response(body, headers=headers, direct_passthrough=True)
        content_type = fault.content_type if fault is not None and fault.content_type is not None else None
        return self._typed(response, recording.media_type(fmt) if content_type is None else content_type)

    @staticmethod
    def _typed(response: Response, content_type: str) -> Response:
        """`content_type` on the response, or no Content-Type header at all for ""."""
        if content_type:
            response.headers["Content-Type"] = content_type
        else:
            del response.headers["Content-Type"]
        return response

    def _storage(self, request: Request, sid: str, fmt: str) -> Response:
        """An object store's presigned URL: the signature is in the query, so a request with credentials is refused."""
        if "Authorization" in request.headers:
            return Response(_S3_TWO_AUTHS, status=400, mimetype="application/xml")
        return self._media(request, request.args.get("a", ""), sid, fmt, redirected=True)

    def _stats(self, request: Request) -> Response:
        """Request counts by kind, for a driver in another process (the benchmark)."""
        kinds = ("json", "media", "list", "delete", "head", "relay-list", "relay-json")
        counts = {kind: self.count(kind) for kind in kinds}
        return Response(json.dumps(counts), mimetype="application/json")

    def _delete(self, request: Request, account: str, sid: str) -> Response:
        refused, fault = self._guard(request, account, sid, "delete")
        if refused is not None:
            return refused
        if fault is not None and fault.redirect:
            return Response(status=302, headers={"Location": f"{self.other_host_url}/storage/{sid}.mp3"})
        if self._laml(sid) is None:
            return self._error(404, "Not Found")
        del self.recordings[sid]
        self.deleted.append(sid)
        return Response(status=204)

    # --- RELAY REST --------------------------------------------------------------------------
    def _relay(self, sid: str) -> FakeRecording | None:
        recording = self.recordings.get(sid)
        return recording if recording is not None and recording.api == "relay" else None

    def _relay_guard(self, request: Request, sid: str, kind: str) -> tuple[Response | None, Fault | None]:
        if not self._authorized(request):
            return self._error(401, "Unauthorized"), None
        fault = self._next_fault(sid, kind)
        return self._apply(fault), fault

    def _relay_list(self, request: Request) -> Response:
        """`{"links": {...}, "data": [...]}`, as localspace.listing serves it."""
        refused, fault = self._relay_guard(request, "*", "relay-list")
        if refused is not None:
            return refused
        origin = request.host_url.rstrip("/")
        relay = [r for r in list(self.recordings.values()) if r.api == "relay"]
        body = self.listing.relay(request, relay, lambda r: r.relay_metadata(origin, self.other_host_url))
        if isinstance(body, Response):
            return body
        if fault is not None and fault.next_page:
            body["links"]["next"] = fault.next_page
        return Response(json.dumps(body), mimetype="application/json")

    def _relay_json(self, request: Request, sid: str) -> Response:
        refused, fault = self._relay_guard(request, sid, "json")
        if refused is not None:
            return refused
        recording = self._relay(sid)
        if recording is None:
            return self._error(404, "Not Found")
        document = recording.relay_metadata(request.host_url.rstrip("/"), self.other_host_url)
        if fault is not None and fault.not_final:
            document["status"] = "in-progress"
        if fault is not None and fault.body:
            # A scripted lie about where the audio is, for instance.
            document.update(json.loads(fault.body))
        return Response(json.dumps(document, indent=2), mimetype="application/json")

    def _relay_media(self, request: Request, sid: str) -> Response:
        """The documented `/api/v1/recordings/{id}/download`, in the recording's own format, no extension to say so."""
        # "Protect Recording Media URLs" on: the audio needs the API credentials too.
        refused, fault = self._relay_guard(request, sid, "media")
        if refused is not None:
            return refused
        recording = self._relay(sid)
        if recording is None or recording.status not in _FINAL:
            return self._error(404, "Not Found")
        return self._serve(recording, recording.fmt, fault)

    def _relay_delete(self, request: Request, sid: str) -> Response:
        refused, _ = self._relay_guard(request, sid, "delete")
        if refused is not None:
            return refused
        if self._relay(sid) is None:
            return self._error(404, "Not Found")
        del self.recordings[sid]
        self.deleted.append(sid)
        return Response(status=204)

    def status_callback(self, sid: str, status: str = "completed") -> dict[str, str]:
        """The form fields of a cXML recordingStatusCallback for `sid` (compatibility openapi.yaml,
        RecordingStatusCallbackPayload: every required field), as SignalWire POSTs them."""
        recording = self.recordings.get(sid)
        call_sid = recording.call_sid if recording is not None and recording.call_sid else str(uuid.uuid4())
        return {
            "AccountSid": self.project_id,
            "CallSid": call_sid,
            "RecordingSid": sid,
            "RecordingUrl": f"{self.url}/api/laml/2010-04-01/Accounts/{self.project_id}/Recordings/{sid}",
            "RecordingStatus": status,
            "RecordingDuration": "4",
            "RecordingChannels": "1",
            "RecordingSource": "DialVerb",
        }

    def event(
        self, recording: FakeRecording, state: str = "finished", shape: str = "record_call", **record: Any
    ) -> dict[str, Any]:
        """The `calling.call.record` event SignalWire POSTs to a status_url, in the documented `shape`.

        "record_call" (swml record_call.mdx): the result under `params.record` (`url`, `duration`, `size`,
        `format`). "record" (swml record.mdx): `params.url`, `params.recording_id`, `params.size`, ... and
        the settings under `params.record.audio`. `record` overrides fields of the result.
        """
        params: dict[str, Any] = {
            "call_id": recording.call_sid,
            "node_id": str(uuid.uuid4()),
            "control_id": str(uuid.uuid4()),
            "state": state,
        }
        url = recording.media_url(self.url, self.other_host_url)
        if shape == "record":
            ended = recording.created.timestamp() + 4
            if state in ("finished", "no_input"):
                params |= {"url": url, "duration": 4, "size": recording.size, "recording_id": recording.sid}
                params |= {"start_time": ended - 4, "end_time": ended}
            audio = {"format": recording.fmt, "direction": "speak", "stereo": False}
            params["record"] = {"audio": audio | record}
        elif state == "finished":
            params["record"] = {"url": url, "duration": 4.0, "size": recording.size, "format": recording.fmt} | record
        return {
            "event_type": "calling.call.record",
            "event_channel": f"swml:{uuid.uuid4()}",
            "timestamp": time.time(),
            "project_id": self.project_id,
            "space_id": str(uuid.uuid4()),
            "params": params,
        }
