"""Every callback shape SignalWire sends: SWML/Calling JSON events, GET callbacks, key rotation, omissions."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from archiver.sweep import sweep
from archiver.verify import verify
from archiver.webhook import handle_callback
from localspace.events import MP4_NAMED, PAUSE_BEHAVIORS, EventReadings
from localspace.signing import sign_event, sign_url
from localspace.space import Fault
from tests.helpers import CALLBACK_URL, SIGNING_KEY, WINDOW, Harness, audit_lines, bucket_of, only_line, stored

OLD_KEY = "PSK_old_key_before_rotation_0001"
NEW_KEY = "PSK_new_key_after_rotation_00002"
TOKEN = "cb-token-0123456789abcdef"


def relay_keys(harness: Harness, sid: str, fmt: str = "wav") -> tuple[str, str]:
    rec = harness.space.recordings[sid]
    base = f"calls/{harness.space.project_id}/{rec.created:%Y/%m/%d}/{sid}"
    return f"{base}.{fmt}", f"{base}.json"


# --- SWML record_call / calling.record events ----------------------------------------------------


def test_finished_event_signed_hex_archives_exact_bytes_and_verbatim_metadata(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=150_000, api="relay", fmt="wav")
    reply = harness.post_event(harness.space.event(rec))
    assert reply.status == 200, reply.body
    assert reply.body["outcome"] == "archived"
    audio_key, meta_key = relay_keys(harness, rec.sid)
    objects = stored(harness)
    assert set(objects) == {audio_key, meta_key}
    assert objects[audio_key] == rec.audio()
    # The metadata object is the RELAY resource exactly as the space answered it.
    assert json.loads(objects[meta_key]) == rec.relay_metadata(harness.space.url)
    line = only_line(capsys)
    assert (line["api"], line["callback_shape"], line["signing_key_position"]) == ("relay", "event", 1)
    assert line["size_verified"] is True  # byte_size is the size SignalWire vouches for
    assert line["call_sid"] == rec.call_sid
    # Nothing was asked of the LaML API.
    assert harness.space.count("json") == 0
    assert (harness.space.count("relay-json"), harness.space.count("media")) == (1, 1)


@pytest.mark.parametrize("fmt", ["mp3", "mp4"])
def test_a_recording_keeps_its_own_format(harness: Harness, fmt: str) -> None:
    rec = harness.space.add(size=40_000, api="relay", fmt=fmt)
    assert harness.post_event(harness.space.event(rec)).body["outcome"] == "archived"
    assert relay_keys(harness, rec.sid, fmt)[0] in stored(harness)


def test_event_repeated_is_already_archived(harness: Harness) -> None:
    rec = harness.space.add(size=30_000, api="relay")
    assert harness.post_event(harness.space.event(rec)).body["outcome"] == "archived"
    assert harness.post_event(harness.space.event(rec)).body["outcome"] == "already_archived"


def test_record_url_at_the_top_of_params_is_read_too(harness: Harness) -> None:
    rec = harness.space.add(size=30_000, api="relay")
    event = harness.space.event(rec)
    event["params"]["url"] = event["params"].pop("record")["url"]  # older events put it there
    assert harness.post_event(event).body["outcome"] == "archived"


def test_body_sha256_variant_is_accepted(harness: Harness) -> None:
    rec = harness.space.add(size=30_000, api="relay")
    raw = json.dumps(harness.space.event(rec)).encode()
    url = f"{CALLBACK_URL}?bodySHA256={hashlib.sha256(raw).hexdigest()}"
    reply = harness.post_event({}, url=url, key=None, body=raw, headers=sign_url(SIGNING_KEY, url).headers)
    assert reply.body["outcome"] == "archived"
    # The same signature over the bare URL vouches for nothing without the body's hash.
    bare = harness.post_event({}, key=None, body=raw, headers=sign_url(SIGNING_KEY, CALLBACK_URL).headers)
    assert bare.status == 403


def test_callback_token_admits_unsigned_events_only(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(CALLBACK_TOKEN=TOKEN)
    rec = harness.space.add(size=30_000, api="relay")
    reply = harness.post_event(harness.space.event(rec), url=f"{CALLBACK_URL}?token={TOKEN}", key=None)
    assert reply.body["outcome"] == "archived"
    line = audit_lines(capsys.readouterr().out)[-1]
    assert line["authenticated_by"] == "callback_token"
    assert "signing_key_position" not in line
    assert TOKEN not in json.dumps(line)
    wrong = harness.post_event(harness.space.event(rec), url=f"{CALLBACK_URL}?token={TOKEN[:-1]}x", key=None)
    assert wrong.status == 403
    # A cXML callback is always signed: the token does not stand in for its signature.
    laml = harness.space.add(size=1_000)
    assert harness.post(harness.form(laml.sid), url=f"{CALLBACK_URL}?token={TOKEN}", key=None).status == 403


def test_token_alone_without_signing_keys(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(CALLBACK_TOKEN=TOKEN, SIGNALWIRE_SIGNING_KEY="")
    rec = harness.space.add(size=30_000, api="relay")
    assert harness.post_event(harness.space.event(rec), url=f"{CALLBACK_URL}?token={TOKEN}", key=None).status == 200
    assert harness.post_event(harness.space.event(rec), key=None).status == 403


@pytest.mark.parametrize("tamper", ["unsigned", "wrong_key", "body_changed", "token_without_setting"])
def test_unsigned_or_tampered_event_is_403_and_fetches_nothing(harness: Harness, tamper: str) -> None:
    rec = harness.space.add(size=30_000, api="relay")
    event = harness.space.event(rec)
    if tamper == "unsigned":
        reply = harness.post_event(event, key=None)
    elif tamper == "wrong_key":
        reply = harness.post_event(event, key="PSK_someone_else")
    elif tamper == "body_changed":
        raw = json.dumps(event).encode()
        sig = sign_event(SIGNING_KEY, CALLBACK_URL, raw).signature
        other = harness.space.add(size=1, api="relay")
        forged = raw.replace(rec.sid.encode(), other.sid.encode())
        reply = harness.post_event({}, key=None, body=forged, headers={"X-SignalWire-Signature": sig})
    else:
        reply = harness.post_event(event, url=f"{CALLBACK_URL}?token={TOKEN}", key=None)
    assert reply.status == 403
    assert harness.space.count() == 0
    assert stored(harness) == {}


@pytest.mark.parametrize("state", ["recording", "paused"])
def test_non_final_states_are_ignored(harness: Harness, state: str) -> None:
    rec = harness.space.add(api="relay")
    reply = harness.post_event(harness.space.event(rec, state))
    assert (reply.status, reply.body["outcome"]) == (200, "ignored")
    assert harness.space.count() == 0


@pytest.mark.parametrize("pause_behavior", PAUSE_BEHAVIORS)
def test_a_paused_record_event_with_its_pause_behavior_is_ignored_not_refused(
    harness: Harness, pause_behavior: str
) -> None:
    """record.mdx 167-169: `params.pause_behavior` comes with a paused `record` event; it is nothing to archiving."""
    rec = harness.space.add(size=30_000, api="relay")
    readings = EventReadings(pause_behavior=pause_behavior)
    paused = harness.space.event(rec, "paused", shape="record", readings=readings)
    assert paused["params"]["pause_behavior"] == pause_behavior
    reply = harness.post_event(paused)
    assert (reply.status, reply.body["outcome"]) == (200, "ignored")
    assert harness.space.count() == 0
    # Carried by the finished event too (not documented there), it changes nothing either.
    finished = harness.space.event(rec, shape="record", readings=readings)
    finished["params"]["pause_behavior"] = pause_behavior
    assert harness.post_event(finished).body["outcome"] == "archived"


@pytest.mark.parametrize("shape", ["record_call", "record"])
@pytest.mark.parametrize("mp4_named", MP4_NAMED)
def test_an_mp4_recording_is_archived_whether_its_event_names_mp4_or_no_format(
    harness: Harness, shape: str, mp4_named: str | None
) -> None:
    """The methods record mp4 (record_call.mdx 33-34, record.mdx 27-29); the events' enumerations have no word for
    it (record_call.mdx 166, record.mdx 179). Either way the bytes name the object."""
    rec = harness.space.add(size=40_000, api="relay", fmt="mp4")
    reply = harness.post_event(harness.space.event(rec, shape=shape, readings=EventReadings(mp4_named=mp4_named)))
    assert (reply.status, reply.body["outcome"]) == (200, "archived")
    assert stored(harness)[relay_keys(harness, rec.sid, "mp4")[0]] == rec.audio()


@pytest.mark.parametrize("state", ["no_input", "error"])
def test_no_input_and_error_have_no_audio(harness: Harness, state: str, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add(api="relay")
    reply = harness.post_event(harness.space.event(rec, state))
    assert (reply.status, reply.body["outcome"]) == (200, "no_audio")
    assert harness.space.count() == 0
    assert only_line(capsys)["recording_status"] == state


def test_record_url_on_another_host_is_never_contacted(harness: Harness) -> None:
    rec = harness.space.add(size=30_000, api="relay")
    elsewhere = f"{harness.space.other_host_url}/evil/{rec.sid}.wav"
    reply = harness.post_event(harness.space.event(rec, url=elsewhere))
    assert reply.body["outcome"] == "archived"  # only the UUID was taken from it
    other = int(harness.space.other_host_url.rsplit(":", 1)[1])
    assert [seen for seen in harness.space.requests if seen.port == other] == []


def test_byte_size_is_the_size_that_counts(harness: Harness) -> None:
    rec = harness.space.add(size=30_000, api="relay", byte_size=29_999)  # the metadata and the body disagree
    reply = harness.post_event(harness.space.event(rec))
    assert reply.status == 503
    assert stored(harness) == {}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_type": "calling.call.play"}, "calling.call.record"),
        ({"project_id": "11111111-2222-3333-4444-555555555555"}, "project_id"),
        ({"params": {"call_id": None}}, "params.state is missing"),
        (
            {"params": {"state": "finished", "record": {"url": "https://x.example/no-id-here.wav"}}},
            "names no recording",
        ),
        ({"params": {"state": "finished", "call_id": "../x", "record": {"url": "/a/b"}}}, "call_id"),
    ],
)
def test_bad_events_are_400_and_fetch_nothing(harness: Harness, change: dict[str, Any], reason: str) -> None:
    rec = harness.space.add(api="relay")
    reply = harness.post_event(harness.space.event(rec) | change)
    assert reply.status == 400
    assert reason in reply.body["reason"]
    assert harness.space.count() == 0


def test_delete_after_archive_uses_the_relay_delete(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    rec = harness.space.add(size=30_000, api="relay", created=datetime.now(UTC))
    reply = harness.post_event(harness.space.event(rec))
    assert reply.body["deleted"] is True
    assert harness.space.deleted == [rec.sid]
    # A duplicate event after the delete finds the archive instead of SignalWire's 404.
    assert harness.post_event(harness.space.event(rec)).body["outcome"] == "already_archived"


# --- GET callbacks ---------------------------------------------------------------------------------


def test_signed_get_callback_archives(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    rec = harness.space.add(size=20_000)
    reply = harness.get(harness.form(rec.sid))
    assert reply.body["outcome"] == "archived"
    assert only_line(capsys)["callback_shape"] == "query"


def test_get_callback_on_a_url_with_its_own_query(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(PUBLIC_URL=f"{CALLBACK_URL}?tenant=7")
    rec = harness.space.add(size=20_000)
    assert harness.get(harness.form(rec.sid), base=f"{CALLBACK_URL}?tenant=7").body["outcome"] == "archived"


def test_unsigned_or_tampered_get_is_403(harness: Harness) -> None:
    rec = harness.space.add(size=20_000)
    assert harness.get(harness.form(rec.sid), key=None).status == 403
    fields = harness.form(rec.sid)
    url = f"{CALLBACK_URL}?{'&'.join(f'{k}={v}' for k, v in fields.items())}"
    sig = sign_url(SIGNING_KEY, url).signature
    forged = url.replace(rec.sid, str(uuid.uuid4()))
    reply = handle_callback(harness.service, "GET", forged, {"X-SignalWire-Signature": sig}, io.BytesIO())
    assert reply.status == 403
    assert harness.space.count() == 0


# --- signing-key rotation --------------------------------------------------------------------------


def test_two_keys_during_rotation_and_a_third_refused(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(SIGNALWIRE_SIGNING_KEY=f"{OLD_KEY}, {NEW_KEY}")
    first, second, third = (harness.space.add(size=5_000) for _ in range(3))
    assert harness.post(harness.form(first.sid), key=OLD_KEY).status == 200
    assert harness.post(harness.form(second.sid), key=NEW_KEY).status == 200
    assert harness.post(harness.form(third.sid), key="PSK_third_unknown_key").status == 403
    event_rec = harness.space.add(size=5_000, api="relay")
    assert harness.post_event(harness.space.event(event_rec), key=NEW_KEY).status == 200
    out = capsys.readouterr().out
    positions = [line.get("signing_key_position") for line in audit_lines(out)]
    assert positions == [1, 2, None, 2]
    assert OLD_KEY not in out and NEW_KEY not in out


# --- what SignalWire may omit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"CallSid": ""},
        {"RecordingSource": "SomethingNewVerb", "Brand-New-Field": "x", "ConferenceSid": str(uuid.uuid4())},
    ],
)
def test_omitted_or_unknown_fields_archive_normally(harness: Harness, change: dict[str, str]) -> None:
    rec = harness.space.add(size=5_000, call_sid=None)
    assert harness.post(harness.form(rec.sid) | change).body["outcome"] == "archived"


@pytest.mark.parametrize("missing", ["CallSid", "RecordingUrl"])
def test_missing_fields_archive_normally(harness: Harness, missing: str) -> None:
    rec = harness.space.add(size=5_000)
    fields = harness.form(rec.sid)
    del fields[missing]
    assert harness.post(fields).body["outcome"] == "archived"


# --- the sweep, backfill and verify see RELAY recordings ------------------------------------------


def test_sweep_finds_a_swml_recording_whose_event_was_lost(harness: Harness) -> None:
    lost = harness.space.add(size=25_000, api="relay", created=datetime(2026, 11, 5, tzinfo=UTC))
    laml = harness.space.add(size=25_000, created=datetime(2026, 11, 6, tzinfo=UTC))
    harness.space.add(size=25_000, api="relay", created=datetime(2026, 10, 5, tzinfo=UTC))  # outside the window
    report = sweep(harness.archiver, *WINDOW, concurrency=2, deadline_s=60)
    assert sorted(report.archived) == sorted([lost.sid, laml.sid])
    assert stored(harness)[relay_keys(harness, lost.sid)[0]] == lost.audio()
    rows = {row["recording_sid"]: row["result"] for row in verify(harness.archiver, *WINDOW)}
    assert rows == {lost.sid: "ok", laml.sid: "ok"}
    assert sweep(harness.archiver, *WINDOW, concurrency=2, deadline_s=60).already_archived == 2


def test_relay_listing_follows_links_next_within_the_space_only(harness: Harness) -> None:
    recs = [harness.space.add(size=2_000, api="relay", created=datetime(2026, 11, d, tzinfo=UTC)) for d in (2, 3, 4)]
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, page_size=1)
    assert sorted(report.archived) == sorted(r.sid for r in recs)
    assert harness.space.count("relay-list") == 3
    other = int(harness.space.other_host_url.rsplit(":", 1)[1])
    harness.space.fault("*", "relay-list", Fault(next_page=f"http://127.0.0.1:{other}/api/relay/rest/recordings"))
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, page_size=1)
    assert "leaves the project's API" in report.failed[0]["error"]
    assert [seen for seen in harness.space.requests if seen.port == other] == []


def test_a_recording_both_apis_list_is_archived_once(harness: Harness) -> None:
    rec = harness.space.add(size=9_000, created=datetime(2026, 11, 7, tzinfo=UTC))
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "archived"  # as mp3, through LaML
    # Should the RELAY listing show the same recording (undocumented), its .json names the mp3.
    rec.api = "relay"
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert (report.already_archived, report.archived, report.corrupt) == (1, [], [])
    assert [row["result"] for row in verify(harness.archiver, *WINDOW)] == ["ok"]


def test_repair_replaces_the_audio_the_manifest_names(harness: Harness) -> None:
    """Archived as mp3 through LaML, then corrupted, then repaired from the RELAY listing: mp3 bytes, so .mp3 again."""
    rec = harness.space.add(size=9_000, created=datetime(2026, 11, 8, tzinfo=UTC))
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "archived"
    mp3, meta = (f"calls/{harness.space.project_id}/2026/11/08/{rec.sid}.{ext}" for ext in ("mp3", "json"))
    bucket_of(harness).blob(mp3).upload_from_string(b"half", content_type="audio/mpeg")
    rec.api = "relay"
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert [row["sid"] for row in report.corrupt] == [rec.sid]
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert report.repaired == [rec.sid]
    objects = stored(harness)
    # The corrupt object the manifest named was replaced, under the name its bytes give, and nothing beside it.
    assert objects[mp3] == rec.audio()
    assert sorted(objects) == sorted([mp3, meta])
    assert [row["result"] for row in verify(harness.archiver, *WINDOW)] == ["ok"]
    assert meta in objects
