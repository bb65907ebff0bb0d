"""A recording's audio format as its first bytes tell it, its Content-Type, and the media answers refused unread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from archiver.errors import NotAudio

# The formats SignalWire records in: LaML serves mp3 or wav; SWML record/record_call can also record mp4.
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "audio/mp4"}
# Media answers whose type says nothing against audio; the bytes then decide. Download endpoints and
# object stores answer octet-stream, and an .mp4 is commonly served as video/mp4.
_NEUTRAL_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "video/mp4"})
# Enough for every signature below; a first read shorter than this is topped up, never more than this.
SNIFF_BYTES = 16
# How much of the body is held to look at: one read block, never the audio.
PEEK_MAX = 64 * 1024


class Readable(Protocol):
    def read(self, size: int) -> bytes: ...


def refused_media_type(content_type: str) -> str | None:
    """Why a media answer's Content-Type (lower case, without parameters) rules out audio; None when it does not."""
    if content_type.startswith("audio/") or content_type in _NEUTRAL_TYPES:
        return None
    return f"Content-Type {content_type[:64]!r} is not audio"


def _mpeg_frame(head: bytes) -> bool:
    """An MP3 frame header: 11 sync bits, Layer III, then no reserved version, rate or bitrate.

    Layer III only: Layers I and II are not MP3, and a UTF-16LE byte-order mark (FF FE) followed by
    text reads as a Layer I header, so an error page in UTF-16 would otherwise pass as audio.
    """
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate != 0b1111 and rate != 0b11


def _id3_header(head: bytes) -> bool:
    """An ID3v2 tag header: `ID3`, major version 2-4, a revision, flags, then a size in four 7-bit bytes.

    The bare letters are not enough: a text body may begin with them.
    """
    return (
        len(head) >= 10
        and head.startswith(b"ID3")
        and head[3] in (2, 3, 4)
        and head[4] != 0xFF
        and all(byte < 0x80 for byte in head[6:10])
    )


def sniff(head: bytes) -> tuple[str, str] | None:
    """(format, the evidence) for the first bytes of an MP3, WAV or MP4/M4A file; None for anything else."""
    if _id3_header(head):
        return "mp3", "ID3v2 tag"
    if _mpeg_frame(head):
        return "mp3", "MPEG audio frame sync"
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav", f"{head[:4].decode()}/WAVE header"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace").strip() or "none"
        return "mp4", f"ftyp box, brand {brand!r}"
    return None


def _what_it_is(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return "an empty body"
    if text[:1] == b"<":
        return "markup (HTML or XML)"
    if text[:1] in (b"{", b"["):
        return "JSON"
    return f"unrecognised bytes starting {head[:8].hex()}"


def extension_of(url: object) -> str | None:
    """The format a URL's path names by its extension (`…/x.mp3`), None when it names none."""
    try:
        path = urlsplit(url).path.lower() if isinstance(url, str) else ""
    except ValueError:
        return None
    return next((fmt for fmt in CONTENT_TYPES if path.endswith(f".{fmt}")), None)


@dataclass(frozen=True)
class FormatDecision:
    """The format the bytes show, how they showed it, and what the hints (event, URL, Content-Type) said."""

    fmt: str
    evidence: str
    hints: tuple[tuple[str, str], ...] = ()

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.fmt]

    def disagreeing(self) -> list[str]:
        """The hints that named another format than the bytes, as `where=format`."""
        return [f"{where}={fmt}" for where, fmt in self.hints if fmt in CONTENT_TYPES and fmt != self.fmt]

    def hints_text(self) -> str:
        """Every hint as `where=format`, for the manifest; empty without hints."""
        return " ".join(f"{where}={fmt}" for where, fmt in self.hints)[:512]


def decide(head: bytes, hints: dict[str, str | None], what: str) -> FormatDecision:
    """The format of audio starting with `head`; NotAudio (never stored) when the bytes are not MP3, WAV or MP4."""
    found = sniff(head)
    if found is None:
        raise NotAudio(f"{what}: not audio: {_what_it_is(head)}")
    known = tuple((where, value[:32]) for where, value in hints.items() if value)
    return FormatDecision(found[0], found[1], known)


class PeekedMedia:
    """A media stream whose first bytes were read ahead to see what they are; `read` hands them back first."""

    def __init__(self, media: Readable) -> None:
        self._media = media
        head = media.read(PEEK_MAX)
        # A server may send the first bytes in pieces smaller than a signature; bounded by SNIFF_BYTES reads.
        while 0 < len(head) < SNIFF_BYTES and (more := media.read(PEEK_MAX - len(head))):
            head += more
        self.head = head
        self._pending = head

    def read(self, size: int) -> bytes:
        if self._pending:
            piece, self._pending = self._pending[:size], self._pending[size:]
            return piece
        return self._media.read(size)
