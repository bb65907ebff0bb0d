"""Response bodies the stand-in streams: audio with its scripted faults, padded or trickled JSON, close-ended bodies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Response

from localspace.recording import BLOCK, FakeRecording, Fault

# A response header the handler swallows: it makes the body end when the connection closes.
CLOSE_DELIMITED = "X-Standin-Close-Delimited"
# How long a gated body waits for its gate at most.
GATE_MAX_S = 60.0


class Handler(WSGIRequestHandler):
    """werkzeug's handler, except that CLOSE_DELIMITED turns the answer into HTTP/1.0 so its body ends at close."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword == CLOSE_DELIMITED:
            # werkzeug chunks a body without a length only on HTTP/1.1; as 1.0 it ends at close.
            self.protocol_version = "HTTP/1.0"
            return
        super().send_header(keyword, value)


def padded_json(document: dict[str, Any], size: int) -> Iterator[bytes]:
    """`document` with a padding member that brings it to about `size` bytes, generated as it is sent."""
    head = json.dumps(document)[:-1].encode() + b', "padding": "'
    remaining = max(0, size - len(head) - 2)
    while remaining > 0:
        piece = min(remaining, BLOCK)
        yield b"x" * piece
        remaining -= piece
    yield b'"}'


def trickle(chunks: Iterator[bytes], interval: float, after: int = 0) -> Iterator[bytes]:
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


def gated(chunks: Iterator[bytes], gate: threading.Event, after: int) -> Iterator[bytes]:
    """The first `after` bytes, then the rest once `gate` is set (a minute at most, so a failed test never hangs)."""
    sent = 0
    for chunk in chunks:
        cut, sent = after - sent, sent + len(chunk)
        if 0 <= cut < len(chunk):
            yield chunk[:cut]
            gate.wait(GATE_MAX_S)
            chunk = chunk[cut:]
        yield chunk


def serve(recording: FakeRecording, fmt: str, fault: Fault | None, other_host_url: str) -> Response:
    """The audio in `fmt`, with what `fault` scripts: a redirect to the presigned host, another type, a cut."""
    if fault is not None and fault.redirect:
        where = f"{other_host_url}/storage/{recording.sid}.{fmt}?a={recording.account_sid}"
        return Response(status=302, headers={"Location": where})
    if fault is not None and fault.content_type is not None and fault.body:
        return typed(Response(fault.body), fault.content_type)
    limit = fault.truncate_at if fault is not None else None
    headers = {"Content-Length": str(recording.size_in(fmt)), "Accept-Ranges": "bytes"}
    if limit is not None:
        # Announce the whole length, send less, then hang up: what a cut connection looks like.
        headers["Connection"] = "close"
    body: Iterator[bytes] = recording.chunks(limit, fmt)
    if fault is not None and fault.endless:
        del headers["Content-Length"]
        body = recording.endless(fmt)
    if fault is not None and fault.no_length:
        del headers["Content-Length"]
        headers[CLOSE_DELIMITED] = "1"
    if fault is not None and fault.trickle_s:
        body = trickle(body, fault.trickle_s, fault.trickle_after)
    if fault is not None and fault.gate is not None:
        body = gated(body, fault.gate, fault.trickle_after)
    headers |= fault.headers if fault is not None else {}
    response = Response(body, headers=headers, direct_passthrough=True)
    content_type = fault.content_type if fault is not None and fault.content_type is not None else None
    return typed(response, recording.media_type(fmt) if content_type is None else content_type)


def typed(response: Response, content_type: str) -> Response:
    """`content_type` on the response, or no Content-Type header at all for ""."""
    if content_type:
        response.headers["Content-Type"] = content_type
    else:
        del response.headers["Content-Type"]
    return response
