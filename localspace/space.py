"""A local SignalWire space following the documented Recordings APIs (LaML, RELAY REST), injecting faults on demand.

Recordings made with `api="relay"` (SWML record_call / calling.record) are served only by the RELAY REST
API, as SignalWire's docs suggest; `event()` builds the JSON status event SignalWire would POST for one.
Space holds the state, the scripting and the routing; the endpoints are its peers in laml_api and relay_api.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from localspace import errors, events
from localspace.laml_api import LamlApi
from localspace.listing import Listing
from localspace.media import Handler
from localspace.recording import MEDIA_PLACES, MEDIA_TYPES, RELAY_MEDIA, FakeRecording, Fault, magic
from localspace.relay_api import RelayApi

# What tests and tools import from here, whichever module holds it.
__all__ = ["MEDIA_PLACES", "MEDIA_TYPES", "FakeRecording", "Fault", "Seen", "Space", "magic"]

API = "/api/laml/2010-04-01/Accounts/<account>"
RELAY = "/api/relay/rest/recordings"


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
        self.laml = LamlApi(self)
        self.relay = RelayApi(self)
        # Each rule's endpoint is the peer method that answers it.
        self._urls = Map(
            [
                Rule(f"{API}/Recordings.json", endpoint=self.laml.page, methods=["GET"]),
                Rule(f"{API}/Recordings/<sid>.json", endpoint=self.laml.metadata, methods=["GET"]),
                Rule(f"{API}/Recordings/<sid>.<fmt>", endpoint=self.laml.media, methods=["GET"]),
                Rule(f"{API}/Recordings/<sid>", endpoint=self.laml.delete, methods=["DELETE"]),
                Rule(f"{API}/Recordings/<sid>", endpoint=self.laml.media_wav, methods=["GET"]),
                Rule("/storage/<sid>.<fmt>", endpoint=self.laml.storage, methods=["GET"]),
                Rule(RELAY, endpoint=self.relay.page, methods=["GET"]),
                Rule(f"{RELAY}/<sid>", endpoint=self.relay.metadata, methods=["GET"]),
                Rule(f"{RELAY}/<sid>", endpoint=self.relay.delete, methods=["DELETE"]),
                Rule(f"{RELAY_MEDIA}/<sid>/download", endpoint=self.relay.media, methods=["GET"]),
                Rule("/__stats", endpoint=self._stats, methods=["GET"]),
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
            server = make_server(host, p, self.wsgi, threaded=True, request_handler=Handler)
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

    def next_fault(self, sid: str, kind: str) -> Fault | None:
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
        response = endpoint(request, **args)
        return response(environ, start_response)

    def _stats(self, request: Request) -> Response:
        """Request counts by kind, for a driver in another process (the benchmark)."""
        kinds = ("json", "media", "list", "delete", "head", "relay-list", "relay-json")
        counts = {kind: self.count(kind) for kind in kinds}
        return Response(json.dumps(counts), mimetype="application/json")

    # --- what the endpoints share ------------------------------------------------------------
    @staticmethod
    def error(status: int, message: str, retry_after: str | None = None, api: str = "laml") -> Response:
        """An error as `api` ("laml" or "relay") shapes it (localspace.errors)."""
        return errors.answer(api, status, message, retry_after)

    def apply(self, fault: Fault | None, api: str = "laml") -> Response | None:
        if fault is None or fault.status == 200:
            return None
        return self.error(fault.status, "scripted fault", fault.retry_after, api)

    def guard(
        self, request: Request, sid: str, kind: str, account: str | None = None
    ) -> tuple[Response | None, Fault | None]:
        """Basic auth for the API, and the LaML `account` in the path, then the next scripted fault for this request.

        RELAY paths carry no account (None), and answer RELAY's error shapes.
        """
        api = "relay" if account is None else "laml"
        if not self._authorized(request) or (account is not None and account != self.project_id):
            return self.error(401, "Unauthorized", api=api), None
        fault = self.next_fault(sid, kind)
        return self.apply(fault, api), fault

    def find(self, sid: str, api: str) -> FakeRecording | None:
        """The recording `sid` if it was made through `api` ("laml" or "relay"): each API serves only its own."""
        recording = self.recordings.get(sid)
        return recording if recording is not None and recording.api == api else None

    def remove(self, sid: str, api: str) -> Response:
        """Delete `sid` if `api` serves it, as the DELETE endpoints answer."""
        if self.find(sid, api) is None:
            return self.error(404, "Not Found", api=api)
        del self.recordings[sid]
        self.deleted.append(sid)
        return Response(status=204)

    # --- the callbacks SignalWire would POST -------------------------------------------------
    def status_callback(self, sid: str, status: str = "completed") -> dict[str, str]:
        """The form fields of a cXML recordingStatusCallback for `sid` (see localspace.events)."""
        return events.status_callback(self, sid, status)

    def event(
        self,
        recording: FakeRecording,
        state: str = "finished",
        shape: str = "record_call",
        readings: events.EventReadings = events.SHOWN,
        **record: Any,
    ) -> dict[str, Any]:
        """The `calling.call.record` event SignalWire POSTs to a status_url (see localspace.events)."""
        return events.event(self, recording, state, shape, readings, **record)
