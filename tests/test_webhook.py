"""Every answer the callback can give, against the real fake-gcs-server and the SignalWire stand-in."""

from __future__ import annotations

import base64
import io
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from archiver.logging import get_logger, trace_fields
from archiver.signalwire import Budget
from archiver.storage import VerifyingReader
from archiver.webhook import handle_callback
from localspace.signing import sign_form
from localspace.space import Fault
from tests.helpers import CALLBACK_URL, SIGNING_KEY, TOKEN, Harness, audit_lines, blobs, bucket_of, only_line, stored

# --- refused before anything is fetched -----------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_and_touch_nothing(harness: Harness, method: str) -> None:
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid), method=method)
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, POST"
    assert harness.space.count() == 0
    assert stored(harness) == {}


def test_body_over_64_kib_is_413(harness: Harness) -> None:
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid, Padding="x" * 70_000))
    assert reply.status == 413
    # Without a Content-Length the body is read only up to the limit.
    body = io.BytesIO(b"a=" + b"x" * 70_000)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert handle_callback(harness.service, "POST", CALLBACK_URL, headers, body).status == 413
    assert harness.space.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_body_neither_form_nor_json_is_415(harness: Harness, content_type: str) -> None:
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid), headers={"Content-Type": content_type})
    assert reply.status == 415
    assert harness.space.count() == 0


def test_missing_signature_is_403(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid), key=None)
    assert reply.status == 403
    assert harness.space.count() == 0
    assert stored(harness) == {}
    line = only_line(capsys)
    assert line["outcome"] == "rejected"
    assert line["http_status"] == 403
    assert line["severity"] == "WARNING"


def test_wrong_signature_is_403(harness: Harness) -> None:
    rec = harness.space.add()
    assert harness.post(harness.form(rec.sid), key="PSK_someone_else").status == 403
    fields = harness.form(rec.sid)
    sig = sign_form(SIGNING_KEY, CALLBACK_URL, fields).signature
    fields["RecordingSid"] = str(uuid.uuid4())  # signed for another recording
    reply = harness.post(fields, key=None, headers={"X-SignalWire-Signature": sig})
    assert reply.status == 403
    assert harness.space.count() == 0


def test_signature_over_another_url_is_403(harness: Harness) -> None:
    rec = harness.space.add()
    assert harness.post(harness.form(rec.sid), url="https://attacker.example/archive_recording").status == 403


def test_twilio_header_alias_is_accepted(harness: Harness) -> None:
    rec = harness.space.add()
    fields = harness.form(rec.sid)
    sig = sign_form(SIGNING_KEY, CALLBACK_URL, fields).signature
    reply = harness.post(fields, key=None, headers={"X-Twilio-Signature": sig})
    assert reply.status == 200
    assert reply.body["outcome"] == "archived"


def test_no_signing_key_refuses_every_callback(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(SIGNALWIRE_SIGNING_KEY="")
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 403
    assert "SIGNALWIRE_SIGNING_KEY" in reply.body["reason"]
    assert harness.space.count() == 0


def test_url_rebuilt_from_forwarded_headers_when_public_url_unset(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(PUBLIC_URL="")
    rec = harness.space.add()
    public = "https://fn-abc.a.run.app/archive_recording?tenant=7"
    fields = harness.form(rec.sid)
    sig = sign_form(SIGNING_KEY, public, fields).signature
    headers = {"X-SignalWire-Signature": sig, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "fn-abc.a.run.app"}
    # The app sees plain http on an internal host, as behind Cloud Run's front end.
    internal = "http://localhost:8080/archive_recording?tenant=7"
    assert harness.post(fields, url=internal, key=None, headers=headers).status == 200
    assert harness.post(fields, url=internal, key=None, headers={"X-SignalWire-Signature": sig}).status == 403


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"AccountSid": "11111111-2222-3333-4444-555555555555"}, "AccountSid"),
        ({"RecordingSid": "../../other/bucket"}, "RecordingSid"),
        ({"RecordingSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d.mp3"}, "RecordingSid"),
        ({"RecordingSid": "6bfbbe86 a901 4197 8759 2a0de1fa319d"}, "RecordingSid"),
        ({"RecordingSid": ""}, "RecordingSid"),
        ({"RecordingSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d\n"}, "RecordingSid"),
        ({"CallSid": "CA/../../x"}, "CallSid"),
        ({"RecordingStatus": ""}, "RecordingStatus"),
    ],
)
def test_bad_input_is_400_and_fetches_nothing(harness: Harness, change: dict[str, str], reason: str) -> None:
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid) | change)
    assert reply.status == 400
    assert reason in reply.body["reason"]
    assert harness.space.count() == 0
    assert stored(harness) == {}


def test_recording_url_host_is_never_fetched(harness: Harness) -> None:
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid, RecordingUrl="http://169.254.169.254/computeMetadata/v1/x"))
    assert reply.status == 200
    assert harness.space.count("json") == 1  # everything came from the configured space


# --- statuses that archive nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("in-progress", "ignored"),
        ("paused", "ignored"),
        ("resumed", "ignored"),
        ("queued", "ignored"),
        ("absent", "no_audio"),
        ("failed", "no_audio"),
    ],
)
def test_statuses_without_final_audio_fetch_nothing_and_are_logged(
    harness: Harness, status: str, outcome: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not final yet: ignored. Final without audio: no_audio, with the status in the audit line."""
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid, status))
    assert reply.status == 200
    assert reply.body["outcome"] == outcome
    assert harness.space.count() == 0
    line = only_line(capsys)
    assert line["outcome"] == outcome
    assert line["recording_status"] == status


def test_completed_callback_for_absent_recording_is_no_audio(harness: Harness) -> None:
    rec = harness.space.add(status="absent")
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200
    assert reply.body["outcome"] == "no_audio"
    assert harness.space.count("media") == 0
    assert stored(harness) == {}


# --- archiving -----------------------------------------------------------------------------


def test_completed_callback_archives_exact_audio_and_metadata(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=2_500_000)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert reply.body["outcome"] == "archived"
    day = rec.created.strftime("%Y/%m/%d")
    base = f"calls/{harness.space.project_id}/{day}/{rec.sid}"
    stored = blobs(harness)
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
    assert line["requests"] == 2 and line["elapsed_ms"] >= 0
    assert line["size_verified"] is True and line["announced_bytes"] == rec.size


def test_stopped_recording_is_archived_with_json_exactly_as_served(harness: Harness) -> None:
    rec = harness.space.add(status="stopped", call_sid=None)  # a conference recording has no call
    reply = harness.post(harness.form(rec.sid, "stopped"))
    assert reply.status == 200
    objects = stored(harness)
    (meta_name,) = [n for n in objects if n.endswith(".json")]
    assert objects[meta_name] == json.dumps(rec.metadata(), indent=2).encode()
    (audio_name,) = [n for n in objects if n.endswith(".mp3")]
    assert objects[audio_name] == rec.audio()


def test_large_recording_goes_through_resumable_chunks(harness: Harness) -> None:
    rec = harness.space.add(size=5 * 1024 * 1024 + 123)  # chunk size is 1 MiB in tests
    assert harness.post(harness.form(rec.sid)).status == 200
    objects = stored(harness)
    (audio,) = [v for n, v in objects.items() if n.endswith(".mp3")]
    assert audio == rec.audio()


def test_wav_format(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(RECORDING_FORMAT="wav")
    rec = harness.space.add(size=40_000)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200
    assert reply.body["audio_uri"].endswith(f"{rec.sid}.wav")
    (blob,) = [b for b in bucket_of(harness).list_blobs() if b.name.endswith(".wav")]
    assert blob.content_type == "audio/wav"
    assert blob.download_as_bytes() == rec.audio("wav")


def test_duplicate_callback_downloads_nothing(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add(size=1_000_000)
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "archived"
    before = {b.name: b.generation for b in bucket_of(harness).list_blobs()}
    media_before = harness.space.count("media")
    capsys.readouterr()
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200
    assert reply.body["outcome"] == "already_archived"
    assert harness.space.count("media") == media_before
    assert {b.name: b.generation for b in bucket_of(harness).list_blobs()} == before
    line = only_line(capsys)
    assert line["outcome"] == "already_archived"
    assert line["bytes"] == rec.size
    assert line["sha256"] == rec.sha256()


@pytest.mark.parametrize("size", [200_000, 3 * 1024 * 1024])
def test_concurrent_duplicates_leave_one_correct_pair(harness: Harness, size: int) -> None:
    rec = harness.space.add(size=size)
    replies = []

    def send() -> None:
        replies.append(harness.post(harness.form(rec.sid)))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in replies] == [200] * 4
    assert {r.body["outcome"] for r in replies} <= {"archived", "already_archived"}
    objects = stored(harness)
    assert len(objects) == 2
    (audio,) = [v for n, v in objects.items() if n.endswith(".mp3")]
    assert audio == rec.audio()


def test_existing_identical_audio_without_manifest_is_adopted(harness: Harness) -> None:
    """A crash between the audio and the manifest: the create conflict is verified, not overwritten."""
    rec = harness.space.add(size=200_000)
    audio_key, meta_key = harness.archiver.keys(harness.archiver.sources["laml"].recording(rec.sid, Budget.of(10)))
    harness.store.put(audio_key, VerifyingReader.of_bytes(rec.audio()), "audio/mpeg", {"written-by": "first"})
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200
    assert reply.body["outcome"] == "archived"
    after = harness.store.stat(audio_key)
    assert after is not None
    # Kept and completed rather than uploaded again (fake-gcs bumps the generation on a metadata patch,
    # so the surviving custom metadata is what shows the object was not replaced).
    assert after.metadata["written-by"] == "first"
    assert after.metadata["sha256"] == rec.sha256()
    assert after.metadata["recording-sid"] == rec.sid
    assert harness.store.stat(meta_key) is not None


def test_existing_wrong_audio_is_replaced_by_the_right_bytes(harness: Harness) -> None:
    rec = harness.space.add(size=200_000)
    audio_key, meta_key = harness.archiver.keys(harness.archiver.sources["laml"].recording(rec.sid, Budget.of(10)))
    harness.store.put(audio_key, VerifyingReader.of_bytes(b"half a recording"), "audio/mpeg", {})
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert harness.store.read_bytes(audio_key) == rec.audio()
    assert harness.store.stat(meta_key) is not None


def test_manifest_without_its_audio_is_corrupt_and_repair_completes_it(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest is written last, so one without its audio means the audio was lost afterwards: loud."""
    rec = harness.space.add(size=50_000)
    meta = harness.archiver.sources["laml"].recording(rec.sid, Budget.of(10))
    audio_key, meta_key = harness.archiver.keys(meta)
    harness.store.put(meta_key, VerifyingReader.of_bytes(meta.raw), "application/json", {})
    capsys.readouterr()
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body == {
        "outcome": "corrupt",
        "recording_sid": rec.sid,
        "audio_uri": harness.store.uri(audio_key),
        "metadata_uri": harness.store.uri(meta_key),
        "error": "corrupt",
    }
    line = only_line(capsys)
    assert line["severity"] == "ERROR" and "missing" in line["error"]
    assert harness.space.count("media") == 0
    repaired = harness.archiver.archive(rec.sid, repair=True)
    assert repaired.outcome == "archived" and repaired.repaired is not None
    assert harness.store.read_bytes(audio_key) == rec.audio()
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "already_archived"


# --- faults at SignalWire --------------------------------------------------------------------


def test_metadata_not_final_yet_is_waited_for(harness: Harness) -> None:
    rec = harness.space.add()
    harness.space.fault(rec.sid, "json", Fault(not_final=True), Fault(not_final=True))
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200
    assert harness.space.count("json") == 3


def test_metadata_never_final_is_503(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add()
    harness.space.fault(rec.sid, "json", *[Fault(not_final=True)] * 500)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "not_final"
    assert harness.space.count("media") == 0
    assert stored(harness) == {}
    line = only_line(capsys)
    assert line["outcome"] == "failed"
    assert "not final" in line["error"]
    assert line["severity"] == "ERROR"


@pytest.mark.parametrize(
    ("kind", "fault"),
    [
        ("json", Fault(404)),
        ("json", Fault(500)),
        ("json", Fault(503)),
        ("media", Fault(404)),
        ("media", Fault(429)),
        ("media", Fault(502)),
        ("media", Fault(truncate_at=100_000)),
        ("media", Fault(content_type="text/html")),
        ("media", Fault(content_type="application/json", body=b'{"error": "oops"}')),
    ],
)
def test_transient_faults_are_retried_to_exact_bytes(harness: Harness, kind: str, fault: Fault) -> None:
    rec = harness.space.add(size=300_000)
    harness.space.fault(rec.sid, kind, fault, fault)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert harness.space.count(kind, rec.sid) == 3
    objects = stored(harness)
    (audio,) = [v for n, v in objects.items() if n.endswith(".mp3")]
    assert audio == rec.audio()


def test_a_failed_write_names_the_objects_it_was_writing(make_harness: Callable[..., Harness]) -> None:
    """With deletes on, a callback first looks under today's and yesterday's names; a write that then fails
    names the recording's own objects, not the last place looked at."""
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    rec = harness.space.add(size=30_000, created=datetime(2026, 11, 3, 12, tzinfo=UTC))
    harness.space.fault(rec.sid, "media", Fault(403))
    outcome = harness.archiver.archive(rec.sid)
    keys = harness.archiver.keys_of(rec.sid, rec.metadata())
    assert (outcome.outcome, outcome.deleted) == ("failed", None)
    assert (outcome.audio_uri, outcome.metadata_uri) == (
        harness.store.uri(keys.audio),
        harness.store.uri(keys.manifest),
    )
    assert stored(harness) == {}


@pytest.mark.parametrize("as_date", [False, True])
def test_retry_after_is_honoured(make_harness: Callable[..., Harness], as_date: bool) -> None:
    harness = make_harness(RETRY_BUDGET_SECONDS="30")
    rec = harness.space.add()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=9), usegmt=True) if as_date else "7"
    harness.space.fault(rec.sid, "json", Fault(429, retry_after=when))
    assert harness.post(harness.form(rec.sid)).status == 200
    assert harness.sleeps[0] >= 7


@pytest.mark.parametrize(
    "fault",
    [
        Fault(500),
        Fault(404),
        Fault(truncate_at=150_000),
        Fault(truncate_at=0),
        Fault(content_type="text/html"),
    ],
)
def test_persistent_media_fault_is_503_with_nothing_under_final_names(harness: Harness, fault: Fault) -> None:
    rec = harness.space.add(size=2 * 1024 * 1024 + 7)  # resumable: several chunks would be sent
    harness.space.fault(rec.sid, "media", *[fault] * 1000)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert harness.space.count("media") >= 2  # retried inside the budget
    assert stored(harness) == {}


def test_bad_credentials_fail_without_retrying(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(SIGNALWIRE_API_TOKEN="PT_wrong")
    rec = harness.space.add()
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 503
    assert reply.body["error"] == "signalwire_refused"
    assert "HTTP 401" in only_line(capsys)["error"]
    assert harness.space.count("json") == 1


def test_media_redirect_to_another_host_gets_no_credentials(harness: Harness) -> None:
    rec = harness.space.add(size=100_000)
    harness.space.fault(rec.sid, "media", Fault(redirect=True))
    assert harness.post(harness.form(rec.sid)).status == 200
    other_port = int(harness.space.other_host_url.rsplit(":", 1)[1])
    (redirected,) = [seen for seen in harness.space.requests if seen.port == other_port]
    assert not redirected.has_auth_header
    assert all(seen.authorized for seen in harness.space.requests if seen.port != other_port)


# --- the audit trail ---------------------------------------------------------------------------


def test_secrets_never_reach_output(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    harness = make_harness()
    rec = harness.space.add()
    harness.space.fault(rec.sid, "media", Fault(500), Fault(truncate_at=10))
    replies = [harness.post(harness.form(rec.sid)), harness.post(harness.form(rec.sid), key="bad")]
    bad = make_harness(SIGNALWIRE_API_TOKEN=TOKEN + "x")
    replies.append(bad.post(bad.form(rec.sid)))
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text + json.dumps([r.body for r in replies])
    basic = base64.b64encode(f"{harness.space.project_id}:{TOKEN}".encode()).decode()
    for secret in (TOKEN, SIGNING_KEY, basic):
        assert secret not in text
    assert len(audit_lines(captured.out)) == 3


def test_redactor_scrubs_secrets_that_reach_an_error_message(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    get_logger().error("boom", error=f"upstream said {TOKEN}", nested={"k": [SIGNING_KEY]})
    out = capsys.readouterr().out
    assert TOKEN not in out
    assert SIGNING_KEY not in out
    assert out.count("[REDACTED]") == 2


def test_trace_correlation_and_fresh_context_per_request(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add()
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    harness.post(harness.form(rec.sid, "in-progress"), headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    harness.post(harness.form(rec.sid, "in-progress"), headers={"X-Cloud-Trace-Context": f"{trace.upper()}/1;o=0"})
    harness.post(harness.form(rec.sid, "in-progress"))
    first, second, third = audit_lines(capsys.readouterr().out)
    assert first["logging.googleapis.com/trace"].endswith(trace)
    assert first["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert first["logging.googleapis.com/trace_sampled"] is True
    assert second["logging.googleapis.com/trace"].endswith(trace)
    assert second["logging.googleapis.com/spanId"] == "0000000000000001"
    assert second["logging.googleapis.com/trace_sampled"] is False
    assert "logging.googleapis.com/trace" not in third


def test_trace_names_the_project_when_known() -> None:
    fields = trace_fields({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-00"}, "acme-prod")
    assert fields["logging.googleapis.com/trace"] == f"projects/acme-prod/traces/{'a' * 32}"
