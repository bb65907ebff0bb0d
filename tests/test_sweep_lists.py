"""The sweep, backfill and verify against SignalWire's lists as the published contract lets them behave.

Each test plays one list behaviour with the stand-in's switches (localspace/listing.py) against the
real fake-gcs-server: a slow RELAY history, a failing list, loosely read date filters, expired page
tokens, queued follow-ups, a hostile flood, recordings deleted at SignalWire, an unreadable progress record.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from archiver import archive_view, cli, progress
from archiver.storage import VerifyingReader
from archiver.sweep import sweep
from archiver.verify import verify
from archiver.webhook import handle_sweep
from localspace.listing import EXPIRED_TOKEN_CODES
from localspace.space import Fault
from tests.helpers import WINDOW, Harness, audit_lines, cli_env, created, tamper

BODY = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}).encode()
OLD = datetime(2020, 3, 1, tzinfo=UTC)


def relay_pages(harness: Harness, since: int = 0) -> list[int]:
    """The page number each RELAY list request asked for, since request number `since` (0: the first page)."""
    asked = [seen for seen in harness.space.requests[since:] if seen.path == "/api/relay/rest/recordings"]
    return [int(parse_qs(seen.query).get("page_number", ["0"])[0]) for seen in asked]


def swept(harness: Harness) -> dict[str, Any]:
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    return {"status": reply.status, **reply.body}


# --- 1 and 2: independent listings, a fair share of time, a cut RELAY list resumes ---------------------


def test_a_long_slow_relay_history_never_starves_the_laml_list_and_resumes_where_it_stopped(
    make_harness: Callable[..., Harness],
) -> None:
    # 10 s for the run, 7 s kept for what is in flight: 3 s of new work, about ten 0.3 s RELAY pages.
    harness = make_harness(RECONCILE_DEADLINE_SECONDS="10", RETRY_BUDGET_SECONDS="7", RECONCILE_CONCURRENCY="2")
    space = harness.space
    for minute in range(24):
        space.add(size=1_000, api="relay", created=OLD + timedelta(minutes=minute))
    late_relay = space.add(size=2_000, api="relay", fmt="wav", created=created(3))
    missed = space.add(size=2_000, created=created(4))
    space.listing.page_size_cap = 1
    space.listing.relay_page_delay_s = 0.3
    space.listing.relay_order = "oldest"  # the recording in the window is on the last of 25 pages

    first = swept(harness)
    assert first["archived_sids"] == [missed.sid]  # the LaML list is read first, whatever RELAY holds
    relay_owed = first["owed"]["relay"]
    assert len(relay_owed) == 1 and "page_number=" in relay_owed[0]["next"]
    cut_at = int(parse_qs(urlsplit(relay_owed[0]["next"]).query)["page_number"][0])
    assert 0 < cut_at < 25  # the deadline is checked per page, though no row of those pages is in the window

    # The next run, with a RELAY list quick again, resumes where the cut one stopped, not from page one.
    space.listing.relay_page_delay_s = 0
    before = len(space.requests)
    second = swept(harness)
    assert relay_pages(harness, before)[0] == cut_at
    assert second["archived_sids"] == [late_relay.sid]
    assert second["owed"] == {} and second["outcome"] == "sweep_ok" and second["incomplete_runs"] == 0
    # Page one was asked for twice: the first run's pass, and this run's pass over its own (new) window.
    assert relay_pages(harness).count(0) == 2


@pytest.mark.parametrize("status", [401, 404, 422, 500])
def test_a_failing_relay_list_never_stops_the_laml_list(harness: Harness, status: int) -> None:
    space = harness.space
    laml = space.add(size=2_000, created=created(5))
    space.fault("*", "relay-list", *[Fault(status)] * 10_000)
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.archived == [laml.sid]
    (failed,) = report.failed
    assert failed["error"].startswith("listing recordings failed (relay): RELAY recordings list")
    assert report.owed["laml"] == [] and report.owed["relay"][0].window.since == WINDOW[0]

    rows = list(verify(harness.archiver, *WINDOW, read_bytes=False))
    assert [(r["recording_sid"], r["result"]) for r in rows if r["view"] == "signalwire"] == [
        (laml.sid, "ok"),
        ("", "failed"),
    ]


def test_a_failing_laml_list_never_stops_the_relay_list(harness: Harness) -> None:
    relay = harness.space.add(size=2_000, api="relay", fmt="wav", created=created(6))
    harness.space.fault("*", "list", *[Fault(400)] * 100)
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.archived == [relay.sid]
    rows = list(verify(harness.archiver, *WINDOW, read_bytes=False))
    assert [(r["recording_sid"], r["result"]) for r in rows] == [("", "failed"), (relay.sid, "ok")]
    assert "listing recordings failed (laml)" in report.failed[0]["error"]


def test_backfill_lists_the_other_api_when_one_fails(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    laml = harness.space.add(size=2_000, created=created(5))
    harness.space.fault("*", "relay-list", *[Fault(422)] * 100)
    cli_env(monkeypatch, harness)
    assert cli.main(["backfill", "--since", "2026-11-01", "--until", "2026-11-30", "--no-progress"]) == 1
    assert any(laml.sid in o.key for o in harness.store.list_objects(""))
    assert "FAILED (the listing): listing recordings failed (relay)" in capsys.readouterr().out


def test_a_relay_list_refusing_page_size_is_asked_again_without_it(harness: Harness) -> None:
    relay = harness.space.add(size=2_000, api="relay", fmt="wav", created=created(6))
    harness.space.listing.relay_refuses_page_size = True
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.ok and report.archived == [relay.sid]
    asked = [s.path for s in harness.space.requests if s.path == "/api/relay/rest/recordings"]
    assert len(asked) == 2  # refused with page_size, answered without it


def test_relay_rows_in_any_order_are_all_swept(harness: Harness) -> None:
    space = harness.space
    inside = {space.add(size=1_000, api="relay", fmt="wav", created=created(2, m)).sid for m in range(6)}
    for minute in range(6):
        space.add(size=1_000, api="relay", created=OLD + timedelta(minutes=minute))
    space.listing.relay_order = "shuffled"
    space.listing.page_size_cap = 4
    report = sweep(harness.archiver, *WINDOW, concurrency=2, deadline_s=60)
    assert report.ok and set(report.archived) == inside
    assert report.outside_window == 6


def test_a_window_incomplete_run_after_run_is_an_error_line(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "STUCK_AFTER_RUNS", 2)
    harness.space.fault("*", "relay-list", *[Fault(500)] * 1000)
    runs = [swept(harness) for _ in range(3)]
    assert [run["incomplete_runs"] for run in runs] == [1, 2, 3]
    stuck = [line for line in audit_lines(capsys.readouterr().out) if line.get("outcome") == "sweep_window_stuck"]
    assert len(stuck) == 1 and stuck[0]["severity"] == "ERROR" and stuck[0]["incomplete_runs"] == 3
    assert stuck[0]["message"] == "sweep window incomplete 3 runs in a row"
    harness.space.faults.clear()
    assert swept(harness)["incomplete_runs"] == 0


# --- 3: window discipline ------------------------------------------------------------------------


@pytest.mark.parametrize("reading", ["exclusive", "inclusive", "date-only", "ignored"])
def test_every_reading_of_the_date_filters_sweeps_exactly_the_window(harness: Harness, reading: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    since, until = now - timedelta(hours=2), now
    space = harness.space
    inside = [space.add(size=1_000, created=now - timedelta(minutes=m)) for m in (1, 30, 119)]
    outside = [
        space.add(size=1_000, created=until),  # the window is exclusive at both ends
        space.add(size=1_000, created=since),
        space.add(size=1_000, created=now - timedelta(days=3)),
        space.add(size=1_000, created=now + timedelta(minutes=5)),
        *[space.add(size=1_000, created=OLD + timedelta(days=d)) for d in range(20)],
    ]
    space.listing.reading = reading
    space.listing.page_size_cap = 2
    report = sweep(harness.archiver, since, until, concurrency=2, deadline_s=60)
    assert report.ok and sorted(report.archived) == sorted(r.sid for r in inside)
    assert not any(r.sid in o.key for r in outside for o in harness.store.list_objects(""))
    # Newest first: the listing stops at the first row older than the window, never reading the 2020 pages.
    assert space.count("list") <= 5


@pytest.mark.parametrize("code", EXPIRED_TOKEN_CODES)
def test_an_expired_page_token_fails_the_listing_and_never_marks_the_window_done(harness: Harness, code: int) -> None:
    """The spec gives no code for an expired page token (localspace/listing.py): whichever SignalWire sends, the
    listing fails on the status alone, the window stays owed without the dead link, and the next run lists afresh."""
    space = harness.space
    recs = [space.add(size=1_000, created=created(day)) for day in (5, 4, 3)]
    space.listing.page_size_cap = 1
    space.listing.token_lifetime_s = 0
    space.listing.expired_token_code = code
    first = swept(harness)
    assert first["status"] == 500 and first["archived_sids"] == [recs[0].sid]
    assert f"HTTP 400 (code {code})" in first["failed"][0]["error"]
    assert first["owed"]["laml"] == [{"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-05T12:00:01+00:00"}]
    # The tokens handed out so far stay dead: only a listing from its first page can finish the window.
    space.listing.expire_tokens()
    space.listing.token_lifetime_s = None
    second = swept(harness)
    assert second["status"] == 200 and sorted(second["archived_sids"]) == sorted(r.sid for r in recs[1:])
    assert second["owed"] == {}


@pytest.mark.parametrize("refusal", [400, 422])
@pytest.mark.parametrize("page_size", [1000, 5000])
def test_a_space_refusing_page_sizes_over_1000_is_still_swept_and_verified(
    harness: Harness, refusal: int, page_size: int
) -> None:
    """PageSize is at most 1000 (compatibility-api/recordings/main.tsp 58-63) and a server may refuse more
    (400 or 422, lines 71-73) rather than cap it. No setting or flag sends more; neither does a caller that asks."""
    space = harness.space
    laml = [space.add(size=1_000, created=created(2, m)) for m in range(3)]
    relay = space.add(size=1_000, api="relay", fmt="wav", created=created(3))
    space.listing.too_large_page_size = refusal
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, page_size=page_size)
    assert report.ok and sorted(report.archived) == sorted([r.sid for r in laml] + [relay.sid])
    rows = list(verify(harness.archiver, *WINDOW, read_bytes=False, page_size=page_size))
    assert sorted(r["result"] for r in rows if r["view"] == "signalwire") == ["ok"] * 4
    asked = [parse_qs(seen.query) for seen in space.requests if seen.path.endswith(("/Recordings.json", "/recordings"))]
    sizes = [int(size) for query in asked for size in query.get("PageSize", []) + query.get("page_size", [])]
    assert sizes and max(sizes) == 1000


# --- 4: follow-ups (queued mode: tests/test_queued.py) -------------------------------------------
# --- 5: bounded by construction ------------------------------------------------------------------


def test_a_flood_of_bad_rows_keeps_the_report_and_its_log_line_small(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"sid": f"not-a-sid-{i:06d}-" + "x" * 40, "status": f"odd-{i}", "date_created": None} for i in range(5000)]
    page = json.dumps({"recordings": rows, "next_page_uri": None}).encode()
    harness.space.fault("*", "list", *[Fault(body=page)] * 10)
    capsys.readouterr()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    (line,) = [text for text in capsys.readouterr().out.splitlines() if '"sweep finished with failures"' in text]
    assert len(line.encode()) < 100_000  # Cloud Logging drops entries over 256 KB
    assert reply.status == 500 and reply.body["totals"]["failed"] == 5000
    assert len(reply.body["failed"]) == 50 and len(reply.body["skipped"]) <= 21


def test_verify_judges_page_by_page_instead_of_reading_the_whole_listing_first(harness: Harness) -> None:
    for minute in range(200):
        harness.space.add(size=1_000, created=created(2 + minute // 60, minute % 60))
    rows = verify(harness.archiver, *WINDOW, read_bytes=False, concurrency=1, page_size=2)
    assert next(rows)["result"] == "missing"
    # At most AHEAD_PER_WORKER rows a worker are listed ahead of the one answered: not the whole listing first.
    assert harness.space.count("list") <= archive_view.AHEAD_PER_WORKER * 1 // 2 + 2  # one worker, 2 rows a page
    assert sum(1 for _ in rows) == 199


# --- 6: the archive's own view -------------------------------------------------------------------


def test_verify_proves_what_signalwire_no_longer_has_and_repair_says_what_it_cannot_mend(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(DELETE_AFTER_ARCHIVE="true")
    kept, damaged = (
        harness.space.add(size=20_000, created=created(2)),
        harness.space.add(size=20_000, created=created(3)),
    )
    for rec in (kept, damaged):
        assert harness.archiver.archive(rec.sid).deleted
    assert harness.space.recordings == {}
    tamper(harness, damaged.sid, b"\1" * 20_000)
    cli_env(monkeypatch, harness, DELETE_AFTER_ARCHIVE="true")
    capsys.readouterr()

    assert cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30"]) == 1
    out = capsys.readouterr().out
    assert "verified 0 recordings listed" in out and "archived, not listed by SignalWire: 2, corrupt: 1, ok: 1" in out
    assert f"CORRUPT {damaged.sid} (archive only)" in out

    # Without SignalWire at all, reading every byte back.
    monkeypatch.setenv("SIGNALWIRE_SPACE_URL", "http://127.0.0.1:9")
    assert cli.main(["verify", "--archived", "--since", "2026-11-01", "--until", "2026-11-30"]) == 1
    assert "verified 2 archived recordings" in capsys.readouterr().out
    monkeypatch.setenv("SIGNALWIRE_SPACE_URL", harness.space.url)

    assert cli.main(["backfill", "--repair", "--since", "2026-11-01", "--until", "2026-11-30", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert f"CANNOT REPAIR {damaged.sid}: SignalWire no longer lists it" in out and kept.sid not in out


def test_verify_archived_reads_the_bytes_back(harness: Harness) -> None:
    rec = harness.space.add(size=20_000, created=created(2))
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    asked = len(harness.space.requests)
    rows = list(verify(harness.archiver, *WINDOW, views=("archive",)))
    assert [(r["recording_sid"], r["view"], r["result"]) for r in rows] == [(rec.sid, "archive", "ok")]
    assert rows[0]["computed_sha256"] == rec.sha256() == rows[0]["recorded_sha256"]
    assert len(harness.space.requests) == asked  # SignalWire was asked nothing


# --- 7: progress records never wedge -------------------------------------------------------------


def test_an_unreadable_progress_record_is_reported_once_and_passed_over(harness: Harness) -> None:
    rec = harness.space.add(created=created(2))
    key = f"{harness.space.project_id}/{progress.PROGRESS_DIR}{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-garbage.json"
    harness.store.put(key, VerifyingReader.of_bytes(b"{not json"), "application/json", {})
    first = swept(harness)
    assert first["status"] == 500 and first["archived_sids"] == [rec.sid]
    second = swept(harness)
    assert second["status"] == 200 and second["failed"] == []
    assert "garbage.json is unreadable" in first["failed"][0]["error"]
    records = list(harness.store.list_objects(f"{harness.space.project_id}/{progress.PROGRESS_DIR}"))
    assert len(records) == 2  # the garbage, then the fresh record that replaced it as the newest


def test_a_version_1_progress_record_is_owed_by_both_apis(harness: Harness) -> None:
    laml, relay = harness.space.add(created=created(2)), harness.space.add(api="relay", fmt="wav", created=created(3))
    key = f"{harness.space.project_id}/{progress.PROGRESS_DIR}{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-v1.json"
    pending = {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-10T00:00:00+00:00"}
    record = {"version": 1, "written_at": datetime.now(UTC).isoformat(), "pending": pending}
    harness.store.put(key, VerifyingReader.of_bytes(json.dumps(record).encode()), "application/json", {})
    # A window of its own that holds neither recording: only what the record owes finds them.
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(b'{"since": "2026-11-20T00:00:00Z"}'))
    assert reply.status == 200 and reply.body["resumed"] == pending
    assert sorted(reply.body["archived_sids"]) == sorted([laml.sid, relay.sid])
