"""The archive core against the real fake-gcs-server and the SignalWire stand-in."""

from __future__ import annotations

import json

import pytest
from google.cloud import storage

from tests.conftest import Harness, audit_lines


def objects(harness: Harness) -> dict[str, storage.Blob]:
    bucket = harness.store._bucket  # type: ignore[attr-defined]
    return {blob.name: blob for blob in bucket.list_blobs()}


def test_completed_callback_archives_exact_audio_and_metadata(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=2_500_000)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert reply.body["outcome"] == "archived"
    day = rec.created.strftime("%Y/%m/%d")
    base = f"calls/{harness.space.project_id}/{day}/{rec.sid}"
    stored = objects(harness)
    assert set(stored) == {f"{base}.mp3", f"{base}.json"}
    audio, meta = stored[f"{base}.mp3"], stored[f"{base}.json"]
    assert audio.download_as_bytes() == rec.audio()
    assert audio.content_type == "audio/mpeg"
    assert audio.metadata["sha256"] == rec.sha256()
    assert audio.metadata["recording-sid"] == rec.sid
    assert audio.metadata["call-sid"] == rec.call_sid
    assert audio.metadata["duration-seconds"] == "4"
    assert audio.metadata["source"] == "DialVerb"
    assert meta.content_type == "application/json"
    assert json.loads(meta.download_as_bytes())["sid"] == rec.sid
    assert meta.metadata["audio-sha256"] == rec.sha256()
    (line,) = audit_lines(capsys.readouterr().out)
    assert line["outcome"] == "archived" and line["severity"] == "INFO"
    assert line["bytes"] == rec.size and line["sha256"] == rec.sha256()
    assert line["audio_uri"] == f"gs://{audio.bucket.name}/{base}.mp3"
    assert line["attempts"] == 2 and line["elapsed_ms"] >= 0
