"""Two attempts at one recording, against a real functions-framework process: the slower never undoes the faster."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import storage

from archiver.signalwire import Budget
from archiver.storage import VerifyingReader
from localspace.space import Fault, Space
from tests.helpers import Harness, StartFunction, audit_lines, callback, env_for, signed_post

MANY = 1000


def test_a_cut_download_overtaken_by_a_verified_archive_and_delete_cannot_remove_the_audio(
    space: Space, gcs_url: str, gcs_client: storage.Client, function_process: StartFunction
) -> None:
    """Callback B's download has no length and is cut short; callback A archives the recording, proves it by the
    Content-Length SignalWire sent, and deletes SignalWire's copy while B's body is still arriving. B's upload then
    meets A's audio, with other bytes than B streamed. Removing it as 'left by an attempt that died' lost the
    recording on main: the manifest stayed, naming audio that was gone, and SignalWire's copy was already deleted."""
    bucket = gcs_client.create_bucket(f"overtaken-{uuid.uuid4().hex[:12]}")
    env = env_for(
        space,
        ARCHIVE_URI=f"gs://{bucket.name}",
        STORAGE_EMULATOR_HOST=gcs_url,
        PUBLIC_URL="",
        DELETE_AFTER_ARCHIVE="true",
        RETRY_BUDGET_SECONDS="10",
    )
    url = function_process(**env).url
    rec = space.add(size=30_000, created=datetime.now(UTC) - timedelta(minutes=5))
    gate = threading.Event()
    space.fault(rec.sid, "media", Fault(no_length=True, truncate_at=20_000, trickle_after=4_000, gate=gate))
    space.fault(rec.sid, "head", Fault(no_length=True))
    fields = callback(space, rec.sid)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(signed_post, url, fields, timeout=120)
        try:
            # B has its body open (its HEAD comes after the GET) and is held at the gate.
            while space.count("head", rec.sid) == 0 and not slow.done():
                time.sleep(0.05)
            fast = signed_post(url, fields)
        finally:
            gate.set()
        overtaken = slow.result()
    assert fast.status_code == 200, fast.text
    assert (fast.json()["outcome"], fast.json()["deleted"]) == ("archived", True)
    assert space.count("delete", rec.sid) == 1
    # B archived nothing of its own: SignalWire no longer has the recording.
    assert overtaken.status_code == 503, overtaken.text
    base = f"{space.project_id}/{rec.created:%Y/%m/%d}/{rec.sid}"
    blobs = {blob.name: blob for blob in bucket.list_blobs()}
    assert set(blobs) == {f"{base}.mp3", f"{base}.json", f"{base}.deletion.json"}
    assert blobs[f"{base}.mp3"].download_as_bytes() == rec.audio()


def verified_leftover(harness: Harness, sid: str, data: bytes) -> str:
    """An audio object an earlier attempt streamed and verified (its SHA-256 set), then died before the manifest."""
    audio_key, _ = harness.archiver.keys(harness.archiver.sources["laml"].recording(sid, Budget.of(10)))
    metadata = {"sha256": hashlib.sha256(data).hexdigest()}
    harness.store.put(audio_key, VerifyingReader.of_bytes(data), "audio/mpeg", metadata)
    return audio_key


def test_a_verified_leftover_without_manifest_gives_way_to_bytes_signalwire_vouches_for(harness: Harness) -> None:
    """The earlier attempt's body had no length and was cut: a download whose length SignalWire announced
    replaces it, so the recording is never stuck behind it."""
    rec = harness.space.add(size=200_000)
    audio_key = verified_leftover(harness, rec.sid, rec.audio()[:1_000])
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert reply.body["outcome"] == "archived"
    assert harness.store.read_bytes(audio_key) == rec.audio()


def test_a_verified_leftover_is_kept_against_a_download_of_unannounced_length(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither the GET nor a HEAD says how long the audio is: these bytes prove nothing, so they remove nothing."""
    rec = harness.space.add(size=200_000)
    audio_key = verified_leftover(harness, rec.sid, rec.audio())
    harness.space.fault(rec.sid, "media", *[Fault(no_length=True, truncate_at=1_000)] * MANY)
    harness.space.fault(rec.sid, "head", *[Fault(no_length=True)] * MANY)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503, reply.body
    (line,) = [line for line in audit_lines(capsys.readouterr().out) if line.get("outcome")]
    assert line["error"].endswith("holds other bytes than this attempt streamed; kept, as verified")
    assert harness.store.read_bytes(audio_key) == rec.audio()
