"""Status words: `stopped` and `completed` are final for LaML; a word no documentation lists is a WARNING
naming it and a count in the sweep's report, never a silent skip."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from archiver import sweep_report
from archiver.sweep import sweep
from archiver.verify import verify
from archiver.webhook import handle_sweep
from tests.helpers import WINDOW, Harness, audit_lines, stored


def warnings(text: str) -> list[dict[str, object]]:
    return [line for line in audit_lines(text) if line.get("severity") == "WARNING"]


@pytest.mark.parametrize("status", ["completed", "stopped"])
def test_stopped_and_completed_are_final_for_laml(harness: Harness, status: str) -> None:
    rec = harness.space.add(size=20_000, status=status)
    reply = harness.post(harness.form(rec.sid, status))
    assert (reply.status, reply.body["outcome"]) == (200, "archived")
    assert stored(harness)


def test_an_unknown_callback_status_is_a_warning_and_signalwire_decides(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: answered 400 ('missing or unknown'), so SignalWire never called again and nothing said which word."""
    rec = harness.space.add(size=20_000)  # SignalWire's own record says completed
    reply = harness.post(harness.form(rec.sid, "transcribed"))
    assert (reply.status, reply.body["outcome"]) == (200, "archived")
    (warning,) = warnings(capsys.readouterr().out)
    assert (warning["status_word"], warning["recording_sid"]) == ("transcribed", rec.sid)


def test_an_unknown_status_at_signalwire_is_never_archived_on_a_guess(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=20_000, status="sealed")
    reply = harness.post(harness.form(rec.sid, "sealed"))
    assert (reply.status, reply.body["error"]) == (503, "not_final")  # SignalWire calls again
    assert stored(harness) == {}
    words = sorted(str(w["status_word"]) for w in warnings(capsys.readouterr().out))
    assert words == ["sealed", "sealed"]  # once for the callback, once (not per retry) for the REST answer


def test_an_unknown_relay_event_state_is_a_warning_and_signalwire_decides(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = harness.space.add(size=20_000, api="relay")
    event = harness.space.event(rec, shape="record")
    event["params"]["state"] = "uploaded"
    reply = harness.post_event(event)
    assert (reply.status, reply.body["outcome"]) == (200, "archived")
    assert [w["status_word"] for w in warnings(capsys.readouterr().out)] == ["uploaded"]


def test_unknown_words_in_the_listings_are_counted_and_warned_about(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: both were silently skipped, the sweep answered sweep_ok at INFO."""
    now = datetime.now(UTC) - timedelta(hours=1)
    harness.space.add(size=2_000, status="sealed", created=now)
    harness.space.add(size=2_000, api="relay", status="transcoding", created=now)
    good = harness.space.add(size=2_000, created=now)
    report = sweep(harness.archiver, now - timedelta(hours=1), now + timedelta(hours=1), concurrency=1, deadline_s=60)
    assert report.archived == [good.sid]
    assert dict(report.unknown_statuses) == {"sealed": 1, "transcoding": 1}
    assert report.summary()["unknown_statuses"] == {"sealed": 1, "transcoding": 1}

    capsys.readouterr()
    body = json.dumps({"since": (now - timedelta(hours=1)).isoformat()}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(body))
    assert reply.status == 200
    (line,) = [w for w in warnings(capsys.readouterr().out) if "unknown_statuses" in w]
    assert line["unknown_statuses"] == {"sealed": 1, "transcoding": 1}


def test_verify_names_an_unknown_status(harness: Harness) -> None:
    rec = harness.space.add(size=2_000, status="sealed", created=datetime(2026, 11, 3, tzinfo=UTC))
    (row,) = verify(harness.archiver, *WINDOW)
    assert (row["recording_sid"], row["result"]) == (rec.sid, "unknown_status")
    assert "sealed" in row["detail"]


def test_a_listing_inventing_a_word_per_recording_cannot_swell_the_sweeps_line(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: every distinct word was a key of `skipped` and of `unknown_statuses`, so a listing of a few thousand
    invented 32-character words made a line Cloud Logging drops whole (over 256 KB), and the warning with it."""
    now = datetime.now(UTC) - timedelta(hours=1)
    for n in range(3_000):
        harness.space.add(size=0, status=f"invented-word-{n:05d}-{'x' * 16}", created=now)
    body = json.dumps({"since": (now - timedelta(hours=1)).isoformat()}).encode()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(body))
    assert reply.status == 200, reply.body
    (line,) = [w for w in warnings(capsys.readouterr().out) if "unknown_statuses" in w]
    unknown = line["unknown_statuses"]
    assert isinstance(unknown, dict) and sum(unknown.values()) == 3_000
    kinds = sweep_report.STATUS_KINDS
    assert len(unknown) == kinds + 1 and unknown["other"] == 3_000 - kinds
    assert len(line["skipped"]) == kinds + 1  # type: ignore[arg-type]
    assert len(json.dumps(line)) < 64 * 1024
