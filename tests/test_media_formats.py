"""Recordings stored as what their bytes are, whatever the event, the URL or the Content-Type says."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.audioformat import PeekedMedia, decide, refused_media_type, sniff
from archiver.errors import NotAudio
from archiver.sweep import sweep
from localspace.space import Fault, magic
from tests.helpers import WINDOW, Harness, audit_lines, bucket_of, only_line, stored

DEMO_MP3 = Path(__file__).resolve().parent.parent / "demo" / "hello.mp3"
MANY = 1000


def blobs(harness: Harness) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (Content-Type, custom metadata) of every object in the harness's bucket."""
    return {b.name: (str(b.content_type), dict(b.metadata or {})) for b in bucket_of(harness).list_blobs()}


def key(harness: Harness, sid: str, ext: str) -> str:
    rec = harness.space.recordings[sid]
    return f"calls/{harness.space.project_id}/{rec.created:%Y/%m/%d}/{sid}.{ext}"


# --- the sniffer itself -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (DEMO_MP3.read_bytes()[:16], "mp3"),  # a real file made by lame
        (b"\xff\xfb\x90\x64" + bytes(12), "mp3"),  # MPEG-1 Layer III frame, no ID3 tag
        (b"\xff\xf3\x48\xc4" + bytes(12), "mp3"),  # MPEG-2 Layer III frame
        (magic("wav", 1000) + bytes(4), "wav"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "wav"),
        (magic("mp4", 1000), "mp4"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
    ],
)
def test_audio_is_told_by_its_first_bytes(head: bytes, fmt: str) -> None:
    found = sniff(head)
    assert found is not None and found[0] == fmt


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<html><body>Service Unavailable</body></html>",
        b'  {"code": 404, "message": "Not Found"}',
        b'<?xml version="1.0"?><Error/>',
        b"\xff\xf1\x50\x80" + bytes(12),  # ADTS (AAC), not MP3
        b"\xff\xff\xff\xff" + bytes(12),  # sync bits but reserved version and bitrate
        b"RIFF\x00\x00\x00\x00AVI LIST",  # RIFF, but not WAVE
        b"OggS\x00\x02" + bytes(10),
        # Before: an error body in UTF-16LE (BOM FF FE) read as an MPEG Layer I frame and passed as MP3.
        '\ufeff{"error": "not found"}'.encode("utf-16-le"),
        "\ufeff<html><body>gone</body></html>".encode("utf-16-le"),
        "\ufeffService Unavailable".encode("utf-16-le"),
        b"\xff\xfd\x90\x64" + bytes(12),  # MPEG-1 Layer II: a frame, but not MP3
        # Before: the letters ID3 alone made an MP3.
        b"ID3 is not a tag: <html></html>",
        b"ID3\x04\x00\x00\x00\x00\x00\xff<html>",  # a size byte over 7 bits: not an ID3v2 header
    ],
)
def test_anything_else_is_not_audio(head: bytes) -> None:
    assert sniff(head) is None
    with pytest.raises(NotAudio, match="not audio"):
        decide(head, {}, "a body")


def test_a_first_block_cut_small_is_topped_up_to_a_signature_and_given_back_whole() -> None:
    body = magic("wav", 100) + bytes(88)
    pieces = [body[:3], body[3:5], body[5:]]

    class Trickling:
        def read(self, size: int) -> bytes:
            return pieces.pop(0)[:size] if pieces else b""

    peeked = PeekedMedia(Trickling())
    assert sniff(peeked.head) is not None and sniff(peeked.head)[0] == "wav"  # type: ignore[index]
    assert peeked.read(4) + peeked.read(1000) + peeked.read(1000) == body


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        ("audio/mpeg", False),
        ("audio/x-wav", False),
        ("application/octet-stream", False),
        ("binary/octet-stream", False),
        ("video/mp4", False),
        ("", False),
        ("text/html", True),
        ("text/plain", True),
        ("application/json", True),
        ("application/xml", True),
        ("text/xml", True),
    ],
)
def test_content_types_that_rule_audio_out(content_type: str, refused: bool) -> None:
    assert (refused_media_type(content_type) is not None) is refused


# --- through the archive, against the stand-in ---------------------------------------------------------------


@pytest.mark.parametrize("shape", ["record_call", "record"])
@pytest.mark.parametrize("fmt", ["mp3", "wav", "mp4"])
def test_relay_audio_is_stored_under_the_extension_and_type_of_its_bytes(
    harness: Harness, shape: str, fmt: str
) -> None:
    """The documented media URL has no extension: before, every RELAY recording became `.wav`, audio/wav."""
    rec = harness.space.add(size=40_000, api="relay", fmt=fmt)
    reply = harness.post_event(harness.space.event(rec, shape=shape))
    assert reply.status == 200, reply.body
    audio_key = key(harness, rec.sid, fmt)
    assert stored(harness)[audio_key] == rec.audio()
    content_type, _ = blobs(harness)[audio_key]
    assert content_type == {"mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "audio/mp4"}[fmt]
    manifest = blobs(harness)[key(harness, rec.sid, "json")][1]
    assert manifest["audio-format"] == fmt
    assert manifest["audio-format-from"].startswith("bytes: ")
    assert f"event={fmt}" in manifest["audio-format-hints"]


def test_the_bytes_win_over_an_event_that_names_another_format(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=40_000, api="relay", fmt="mp3")
    reply = harness.post_event(harness.space.event(rec, format="wav"))
    assert reply.status == 200
    assert set(stored(harness)) == {key(harness, rec.sid, "mp3"), key(harness, rec.sid, "json")}
    line = only_line(capsys)
    assert (line["audio_format"], line["format_hints_disagree"]) == ("mp3", ["event=wav"])
    assert "event=wav" in blobs(harness)[key(harness, rec.sid, "json")][1]["audio-format-hints"]


@pytest.mark.parametrize("fmt", ["mp3", "mp4"])
def test_a_sweep_without_any_event_names_relay_audio_by_its_bytes(harness: Harness, fmt: str) -> None:
    rec = harness.space.add(size=30_000, api="relay", fmt=fmt, created=datetime(2026, 11, 9, tzinfo=UTC))
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.archived == [rec.sid]
    assert stored(harness)[key(harness, rec.sid, fmt)] == rec.audio()


def test_laml_audio_asked_as_wav_but_served_as_mp3_is_stored_as_mp3(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(RECORDING_FORMAT="wav")
    rec = harness.space.add(size=40_000)
    # The server answers the .wav URL with MP3 bytes and says so: the bytes decide, not the URL asked.
    harness.space.fault(rec.sid, "media", Fault(body=rec.audio("mp3"), content_type="audio/mpeg"))
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert reply.body["audio_uri"].endswith(f"{rec.sid}.mp3")
    assert stored(harness)[key(harness, rec.sid, "mp3")] == rec.audio("mp3")


@pytest.mark.parametrize("content_type", ["application/octet-stream", "binary/octet-stream", "video/mp4", ""])
def test_neutral_content_types_are_accepted_and_the_bytes_decide(harness: Harness, content_type: str) -> None:
    """Before: anything but audio/* was retried until the budget ran out, then failed."""
    rec = harness.space.add(size=40_000, api="relay", fmt="mp4", content_type=content_type)
    reply = harness.post_event(harness.space.event(rec))
    assert reply.status == 200, reply.body
    assert blobs(harness)[key(harness, rec.sid, "mp4")][0] == "audio/mp4"


@pytest.mark.parametrize("content_type", ["text/html", "application/json", "application/xml", "text/plain"])
def test_text_types_are_refused_before_the_body_is_read(harness: Harness, content_type: str) -> None:
    """An endless body under a text type: refused on its headers, so neither the size limit nor a deadline is met."""
    rec = harness.space.add(size=40_000)
    harness.space.fault(rec.sid, "media", *[Fault(endless=True, content_type=content_type)] * MANY)
    started = time.monotonic()
    reply = harness.post(harness.form(rec.sid))
    assert (reply.status, reply.body["error"]) == (503, "not_audio")
    assert time.monotonic() - started < 60  # generous: an endless body read would end only at MAX_RECORDING_MB
    assert stored(harness) == {}


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>upstream error</body></html>",
        b'{"error": "oops"}',
        b"<Error/>",
        b"not audio at all",
        '\ufeff{"error": "oops"}'.encode("utf-16-le"),
        b"ID3 tag missing: <html></html>",
    ],
)
def test_a_body_that_is_not_audio_under_a_neutral_type_is_never_stored(
    harness: Harness, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=40_000)
    harness.space.fault(rec.sid, "media", *[Fault(body=body, content_type="application/octet-stream")] * MANY)
    reply = harness.post(harness.form(rec.sid))
    assert (reply.status, reply.body["error"]) == (503, "not_audio")
    assert stored(harness) == {}
    (line,) = audit_lines(capsys.readouterr().out)
    assert "not audio" in line["error"]


def test_the_audit_line_and_the_manifest_say_how_the_format_was_decided(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(content=DEMO_MP3.read_bytes())
    assert harness.post(harness.form(rec.sid)).status == 200
    line = only_line(capsys)
    assert (line["audio_format"], line["media_host"]) == ("mp3", harness.space.url.removeprefix("http://"))
    manifest = blobs(harness)[key(harness, rec.sid, "json")][1]
    assert manifest["audio-format-from"] == "bytes: ID3v2 tag"
    assert json.loads(stored(harness)[key(harness, rec.sid, "json")])["sid"] == rec.sid
