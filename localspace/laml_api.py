"""The stand-in's LaML (compatibility) Recordings endpoints: list, metadata, media, presigned storage, delete."""

from __future__ import annotations

import itertools
import json

from werkzeug.wrappers import Request, Response

from localspace.host import Host
from localspace.media import padded_json, serve, trickle
from localspace.recording import BLOCK, FINAL, MEDIA_TYPES

# How S3 answers a presigned URL that also carries an Authorization header.
_S3_TWO_AUTHS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code>'
    b"<Message>Only one auth mechanism allowed</Message></Error>"
)


class LamlApi:
    """`/api/laml/2010-04-01/Accounts/{account}/Recordings...` and the presigned host's `/storage`, over the space."""

    def __init__(self, space: Host) -> None:
        self.space = space

    def page(self, request: Request, account: str) -> Response:
        refused, fault = self.space.guard(request, "*", "list", account)
        if refused is not None:
            return refused
        laml = [r for r in list(self.space.recordings.values()) if r.api == "laml"]
        body = self.space.listing.laml(request, laml, lambda r: r.metadata())
        if isinstance(body, Response):
            return body
        if fault is not None and fault.next_page:
            body["next_page_uri"] = fault.next_page
        if fault is not None and fault.json_bytes:
            return Response(padded_json(body, fault.json_bytes), mimetype="application/json")
        if fault is not None and fault.body:
            return Response(fault.body, mimetype="application/json", headers=fault.headers)
        return Response(json.dumps(body), mimetype="application/json")

    def metadata(self, request: Request, account: str, sid: str) -> Response:
        refused, fault = self.space.guard(request, sid, "json", account)
        if refused is not None:
            return refused
        recording = self.space.find(sid, "laml")
        if recording is None:
            return self.space.error(404, "Not Found")
        status = "in-progress" if fault is not None and fault.not_final else None
        if fault is not None and fault.redirect:
            # The next request for the same path has no fault left: only the redirect's body is endless.
            endless = itertools.repeat(b"x" * BLOCK)
            return Response(endless, status=302, headers={"Location": request.path}, mimetype="text/plain")
        if fault is not None and fault.json_bytes:
            return Response(padded_json(recording.metadata(status), fault.json_bytes), mimetype="application/json")
        document = json.dumps(recording.metadata(status), indent=2).encode()
        if fault is not None and fault.trickle_s:
            return Response(trickle(iter([document]), fault.trickle_s), mimetype="application/json")
        return Response(document, mimetype="application/json")

    def media(self, request: Request, account: str, sid: str, fmt: str, *, redirected: bool = False) -> Response:
        # LaML serves mp3 or wav (compatibility-api/recordings/main.tsp); a presigned store serves what it holds.
        if account != self.space.project_id or fmt not in (MEDIA_TYPES if redirected else ("mp3", "wav")):
            return self.space.error(404, "Not Found")
        recording = self.space.recordings.get(sid)
        if recording is not None and recording.api != "laml" and not redirected:
            recording = None
        kind = "head" if request.method == "HEAD" else "media"
        fault = None if redirected else self.space.next_fault(sid, kind)
        if (scripted := self.space.apply(fault)) is not None:
            return scripted
        if recording is None or recording.status not in FINAL:
            return self.space.error(404, "Not Found")
        return serve(recording, fmt, fault, self.space.other_host_url)

    def media_wav(self, request: Request, account: str, sid: str) -> Response:
        """A recording URI without an extension answers WAV (compatibility-api/recordings/main.tsp 89-94)."""
        return self.media(request, account, sid, "wav")

    def storage(self, request: Request, sid: str, fmt: str) -> Response:
        """An object store's presigned URL: the signature is in the query, so a request with credentials is refused."""
        if "Authorization" in request.headers:
            return Response(_S3_TWO_AUTHS, status=400, mimetype="application/xml")
        return self.media(request, request.args.get("a", ""), sid, fmt, redirected=True)

    def delete(self, request: Request, account: str, sid: str) -> Response:
        refused, fault = self.space.guard(request, sid, "delete", account)
        if refused is not None:
            return refused
        if fault is not None and fault.redirect:
            return Response(status=302, headers={"Location": f"{self.space.other_host_url}/storage/{sid}.mp3"})
        return self.space.remove(sid, "laml")
