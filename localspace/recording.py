"""The stand-in's recordings and scripted faults: FakeRecording, Fault, and where and in what format audio is served."""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

# Where SignalWire's docs show RELAY audio: no extension (swml record_call.mdx and record.mdx, raw JSON examples).
RELAY_MEDIA = "/api/v1/recordings"
BLOCK = 64 * 1024
# Statuses whose audio is served: LaML `completed`/`stopped`, RELAY `completed`/`finished`.
FINAL = ("completed", "stopped", "finished")
# What real servers answer for each format: SignalWire's LaML media (as Twilio's) says audio/x-wav for wav;
# an .mp4 is commonly served as video/mp4. The docs state none of these: see docs/callbacks.md.
MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav", "mp4": "video/mp4"}
# Where a RELAY recording's `url` points: the space (documented), a second host serving presigned URLs
# (no credentials accepted), a second host that wants the credentials (SIGNALWIRE_MEDIA_HOSTS), or a
# path relative to the space.
MEDIA_PLACES = ("space", "presigned", "listed", "relative")


# A LaML recording is one recording in two encodings: WAV (16-bit PCM) is this many times the MP3's size, as
# 8 kHz PCM (128 kbit/s) against MP3 at 32 kbit/s. Serving both at one size would hide whichever size is asked.
WAV_PER_MP3 = 4


def magic(fmt: str, size: int) -> bytes:
    """The first bytes of a file in `fmt`, as an encoder writes them, for audio generated here."""
    if fmt == "mp3":
        return b"ID3\x04\x00\x00\x00\x00\x00\x00"
    if fmt == "wav":
        return b"RIFF" + max(0, size - 8).to_bytes(4, "little") + b"WAVEfmt "
    return b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom"


@dataclass
class Fault:
    """One scripted misbehaviour, used once, for the next matching request.

    `no_length` sends the body without Content-Length or chunked framing, so it ends when the
    connection closes (with `truncate_at`, a cut-off body that looks complete); `trickle_s` sends one
    byte per that many seconds, after `trickle_after` bytes at full speed; `endless` streams audio
    forever; `json_bytes` pads a JSON answer to that size; `next_page` replaces a list page's
    next_page_uri; `redirect` answers 302 to another host (on metadata: back to itself, with an endless
    body); `body` replaces a list page; `headers` are added to the answer as they are; `gate` holds the
    audio after `trickle_after` bytes until it is set (a slow download another party overtakes).
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
    gate: threading.Event | None = None


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

    def size_in(self, fmt: str | None = None) -> int:
        """The audio's length in `fmt`: `size` in its own format; a LaML recording asked in the other one is
        that encoding's length (a RELAY recording has one format, and scripted `content` one length)."""
        if fmt in (None, self.fmt) or self.api != "laml" or self.content is not None:
            return self.size
        return self.size * WAV_PER_MP3 if fmt == "wav" else max(1, self.size // WAV_PER_MP3)

    def block(self) -> bytes:
        return random.Random(self.seed or self.sid).randbytes(BLOCK)

    def chunks(self, limit: int | None = None, fmt: str | None = None) -> Iterator[bytes]:
        """The audio in `fmt` (default its own), generated on the fly so a 1 GiB recording costs no memory here either.

        Generated audio starts as a file of that format does, so whatever looks at its first bytes sees it.
        """
        if self.content is not None:
            yield self.content[:limit]
            return
        block = self.block()
        size = self.size_in(fmt)
        remaining = size if limit is None else min(limit, size)
        head = magic(fmt or self.fmt, size)
        offset = 0
        while remaining > 0:
            piece = block[: min(BLOCK, remaining)]
            # Mixing in the offset makes every block distinct, so a reordered chunk changes the digest.
            piece = offset.to_bytes(8, "big")[: len(piece)] + piece[8:] if len(piece) > 8 else piece
            if offset == 0 and size >= len(head):
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
