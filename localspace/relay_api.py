"""The stand-in's RELAY REST Recordings endpoints: list, metadata, the documented media download, delete."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from localspace.host import Host
from localspace.media import serve
from localspace.recording import FINAL


class RelayApi:
    """`/api/relay/rest/recordings...` and `/api/v1/recordings/{id}/download`, over `space`'s state."""

    def __init__(self, space: Host) -> None:
        self.space = space

    def page(self, request: Request) -> Response:
        """`{"links": {...}, "data": [...]}`, as localspace.listing serves it."""
        refused, fault = self.space.guard(request, "*", "relay-list")
        if refused is not None:
            return refused
        origin = request.host_url.rstrip("/")
        relay = [r for r in list(self.space.recordings.values()) if r.api == "relay"]
        other = self.space.other_host_url
        body = self.space.listing.relay(request, relay, lambda r: r.relay_metadata(origin, other))
        if isinstance(body, Response):
            return body
        if fault is not None and fault.next_page:
            body["links"]["next"] = fault.next_page
        return Response(json.dumps(body), mimetype="application/json")

    def metadata(self, request: Request, sid: str) -> Response:
        refused, fault = self.space.guard(request, sid, "json")
        if refused is not None:
            return refused
        recording = self.space.find(sid, "relay")
        if recording is None:
            return self.space.error(404, "Not Found", api="relay")
        document = recording.relay_metadata(request.host_url.rstrip("/"), self.space.other_host_url)
        if fault is not None and fault.not_final:
            document["status"] = "in-progress"
        if fault is not None and fault.body:
            # A scripted lie about where the audio is, for instance.
            document.update(json.loads(fault.body))
        return Response(json.dumps(document, indent=2), mimetype="application/json")

    def media(self, request: Request, sid: str) -> Response:
        """The documented `/api/v1/recordings/{id}/download`, in the recording's own format, no extension to say so."""
        # "Protect Recording Media URLs" on: the audio needs the API credentials too.
        refused, fault = self.space.guard(request, sid, "media")
        if refused is not None:
            return refused
        recording = self.space.find(sid, "relay")
        if recording is None or recording.status not in FINAL:
            return self.space.error(404, "Not Found", api="relay")
        return serve(recording, recording.fmt, fault, self.space.other_host_url)

    def delete(self, request: Request, sid: str) -> Response:
        refused, _ = self.space.guard(request, sid, "delete")
        if refused is not None:
            return refused
        return self.space.remove(sid, "relay")
