"""The sweep learns what is archived from listings: request counts at the servers, the same verdicts, resuming."""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from google.api_core.exceptions import Forbidden
from google.cloud.storage import Client as GcsClient

from archiver import config, progress, storage
from archiver.service import Service
from archiver.storage import GcsStore, StoredObject, VerifyingReader
from archiver.sweep import sweep
from archiver.verify import verify
from archiver.webhook import handle_sweep
from localspace.space import FakeRecording, Fault
from tests.helpers import WINDOW, Harness, ServerCounts, bucket_of, created, env_for, is_object_list, per_object, tamper

BODY = json.dumps({"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}).encode()
# Small pages stand for GCS's and SignalWire's 1,000, so a few dozen recordings span several pages.
PAGE = 10


@pytest.fixture
def counts(harness: Harness, gcs_workdir: Path) -> ServerCounts:
    return ServerCounts(harness, gcs_workdir)


def archive_all(harness: Harness, recordings: list[FakeRecording]) -> None:
    for rec in recordings:
        assert harness.archiver.archive(rec.sid).outcome == "archived"


def test_an_archived_window_costs_pages_not_recordings(
    harness: Harness, counts: ServerCounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "LIST_PAGE_SIZE", PAGE)
    days = (2, 3, 4)
    recs = [harness.space.add(size=2_000, created=created(days[i % 3], i)) for i in range(25)]
    archive_all(harness, recs)

    counts.start()
    report = sweep(harness.archiver, *WINDOW, concurrency=4, deadline_s=300, page_size=PAGE)
    assert report.already_archived == 25 and report.ok and not report.archived
    assert report.archive_listings == 3
    signalwire, gcs = counts.signalwire(), counts.gcs()
    # At most ⌈N/page⌉ SignalWire list requests plus ⌈2N/page⌉ + days GCS list requests, nothing per recording.
    # The RELAY list has no date filter and is read whole (one page here, it is empty): see docs/operations.md.
    laml = [line for line in signalwire if line.endswith("/Recordings.json")]
    assert len(laml) == math.ceil(25 / PAGE)
    assert all(line.endswith(("/Recordings.json", "/api/relay/rest/recordings")) for line in signalwire)
    assert len(gcs) <= math.ceil(2 * 25 / PAGE) + len(days)
    assert all(is_object_list(line, counts.bucket) for line in gcs)
    assert all("fields=items" in line for line in gcs)  # real GCS then sends only what the check needs
    assert not any(rec.sid in line for rec in recs for line in signalwire)

    # The hourly endpoint adds one listing: the progress records (none yet).
    counts.start()
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    assert reply.status == 200 and reply.body["already_archived"] == 25 and reply.body["resume_next"] is None
    gcs = counts.gcs()
    assert len(gcs) <= math.ceil(2 * 25 / PAGE) + len(days)
    assert sum(1 for line in gcs if "sweep-progress" in line) == 1
    assert all(is_object_list(line, counts.bucket) for line in gcs)


def test_a_mixed_window_finds_each_recording_as_before_and_looks_closer_only_at_the_odd_ones(
    harness: Harness, counts: ServerCounts
) -> None:
    space = harness.space
    good = [space.add(size=20_000, created=created(2, m)) for m in (1, 2)]
    unverified = space.add(size=20_000, created=created(3))
    missing = space.add(size=20_000, created=created(3, 5))
    interrupted = space.add(size=20_000, created=created(4))  # audio written, manifest never
    corrupted = space.add(size=20_000, created=created(4, 5))
    live = space.add(size=0, status="in-progress", created=created(5))
    absent = space.add(size=0, status="absent", created=created(5, 5))
    space.fault(unverified.sid, "media", Fault(no_length=True))
    space.fault(unverified.sid, "head", Fault(no_length=True))
    archive_all(harness, [*good, unverified, interrupted, corrupted])
    manifest = next(b for b in bucket_of(harness).list_blobs() if b.name.endswith(f"{interrupted.sid}.json"))
    manifest.delete()
    tamper(harness, corrupted.sid, b"\1" * 20_000)
    odd = {missing.sid, interrupted.sid, corrupted.sid}

    counts.start()
    rows = {row["recording_sid"]: row for row in verify(harness.archiver, *WINDOW, read_bytes=False)}
    assert {sid: row["result"] for sid, row in rows.items()} == {
        good[0].sid: "ok",
        good[1].sid: "ok",
        unverified.sid: "unverified_size",
        missing.sid: "missing",
        interrupted.sid: "missing",
        corrupted.sid: "corrupt",
        live.sid: "not_final",
        absent.sid: "no_audio",
    }
    assert rows[good[0].sid]["recorded_sha256"] == good[0].sha256()
    assert rows[unverified.sid]["size_verified"] is False
    looked_at = {sid for line in per_object(counts.gcs(), counts.bucket) for sid in rows if sid in line}
    assert looked_at == odd  # one by one only where the listing showed something missing or disagreeing

    counts.start()
    report = sweep(harness.archiver, *WINDOW, concurrency=2, deadline_s=300)
    assert sorted(report.archived) == sorted([missing.sid, interrupted.sid])
    assert [row["sid"] for row in report.corrupt] == [corrupted.sid]
    assert report.already_archived == 3  # the two good ones and the unverified one
    assert report.skipped == {"in-progress": 1, "absent": 1}
    assert {sid for line in per_object(counts.gcs(), counts.bucket) for sid in rows if sid in line} == odd
    fetched = {sid for line in counts.signalwire() for sid in rows if sid in line}
    assert fetched == {missing.sid, interrupted.sid}  # the corrupt one is reported, not fetched


def test_retention_comes_with_the_listing_and_only_unretained_archives_are_completed(
    harness: Harness, counts: ServerCounts
) -> None:
    earlier, later = harness.space.add(created=created(2)), harness.space.add(created=created(3))
    archive_all(harness, [earlier])  # archived before retention was switched on
    settings = config.load(env_for(harness.space, ARCHIVE_URI=harness.settings.archive_uri, OBJECT_RETENTION_DAYS="7"))
    retaining = Service.from_settings(
        settings, store=harness.store, sources=harness.archiver.sources, policy=harness.archiver.policy
    ).archiver
    assert retaining.archive(later.sid).retained_until is not None

    counts.start()
    report = sweep(retaining, *WINDOW, concurrency=1, deadline_s=60)
    assert report.already_archived == 2 and report.ok
    touched = {
        rec.sid for rec in (earlier, later) for line in per_object(counts.gcs(), counts.bucket) if rec.sid in line
    }
    assert touched == {earlier.sid}  # its retention was completed; the retained one was left alone

    counts.start()
    again = sweep(retaining, *WINDOW, concurrency=1, deadline_s=60)
    assert again.already_archived == 2
    assert per_object(counts.gcs(), counts.bucket) == []


def test_an_archive_under_another_extension_is_recognised_from_the_listing(
    harness: Harness, counts: ServerCounts
) -> None:
    """A RELAY recording keeps its own format (WAV here, MP3 configured): its manifest names the object."""
    rec = harness.space.add(size=30_000, api="relay", fmt="wav", created=created(4))
    assert harness.archiver.archive(rec.sid, api="relay").outcome == "archived"
    counts.start()
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.already_archived == 1 and report.ok
    assert per_object(counts.gcs(), counts.bucket) == []
    (row,) = verify(harness.archiver, *WINDOW, read_bytes=False)
    assert row["result"] == "ok" and row["audio_uri"].endswith(f"{rec.sid}.wav")


def test_repair_still_asks_signalwire_the_size_of_an_archive_that_was_never_proven(
    harness: Harness, counts: ServerCounts
) -> None:
    proven, unproven = harness.space.add(created=created(2)), harness.space.add(created=created(3))
    harness.space.fault(unproven.sid, "media", Fault(no_length=True))
    harness.space.fault(unproven.sid, "head", Fault(no_length=True))
    archive_all(harness, [proven, unproven])
    assert sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60).already_archived == 2
    assert harness.space.count("head") == 1  # the archive's own HEAD; a plain sweep asks nothing more

    counts.start()
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert report.already_archived == 2 and report.ok
    assert [line for line in counts.signalwire() if not line.endswith(("Recordings.json", "recordings"))] == [
        f"HEAD {harness.space.recordings[unproven.sid].uri_base}/Recordings/{unproven.sid}.mp3"
    ]
    rows = {row["recording_sid"]: row["result"] for row in verify(harness.archiver, *WINDOW, read_bytes=False)}
    assert rows == {proven.sid: "ok", unproven.sid: "ok"}  # SignalWire announced the size this time


def test_a_day_that_cannot_be_listed_is_checked_one_recording_at_a_time(
    harness: Harness, gcs_client: GcsClient
) -> None:
    """fake-gcs-server has no IAM, so the 403 a bucket without storage.objects.list answers is raised here."""

    class Unlistable(GcsStore):
        def list_objects(self, prefix: str, start: str = "") -> Iterator[StoredObject]:
            raise Forbidden("storage.objects.list denied")

    store = harness.store
    assert isinstance(store, GcsStore)
    archived, missing = harness.space.add(created=created(2)), harness.space.add(created=created(3))
    archive_all(harness, [archived])
    unlistable = Unlistable(store.bucket_name, "calls", harness.settings.chunk_size, client=gcs_client)
    report = sweep(
        Harness(harness.space, unlistable, harness.settings).archiver, *WINDOW, concurrency=1, deadline_s=300
    )
    assert report.ok
    assert report.already_archived == 1 and report.archived == [missing.sid]
    project = harness.space.project_id
    assert [day["prefix"] for day in report.unlisted_days] == [f"{project}/2026/11/03/", f"{project}/2026/11/02/"]
    assert "storage.objects.list" in report.unlisted_days[0]["error"]


def test_a_sweep_cut_short_resumes_where_it_stopped_before_new_work(
    make_harness: Callable[..., Harness], gcs_workdir: Path
) -> None:
    harness = make_harness(RETRY_BUDGET_SECONDS="9.7", RECONCILE_DEADLINE_SECONDS="10", RECONCILE_CONCURRENCY="1")
    space = harness.space
    newest, *older = [space.add(size=10_000, created=created(day)) for day in (5, 4, 3, 2)]
    # The newest recording's metadata trickles in, so the 0.3 s this sweep has for new work runs out.
    space.fault(newest.sid, "json", Fault(trickle_s=0.001))

    first = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    assert first.status == 200 and first.body["outcome"] == "sweep_incomplete"
    assert first.body["archived_sids"] == [newest.sid]
    assert sorted(first.body["remaining"]) == sorted(r.sid for r in older)
    # The LaML list (newest first) owes what is older than the first recording not started; the RELAY list,
    # read after it, was never reached and owes the whole window.
    assert first.body["owed"] == {
        "laml": [{"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-04T12:00:01+00:00"}],
        "relay": [{"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-30T00:00:00+00:00"}],
    }
    left = first.body["resume_next"]
    assert left == {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-30T00:00:00+00:00"}

    # Given time, the next run sweeps what was left first, then the rest of its own window.
    relaxed = Harness(space, harness.store, replace(harness.settings, reconcile_deadline_s=300)).service
    lists_before = space.count("list")
    second = handle_sweep(relaxed, "POST", {}, io.BytesIO(BODY))
    assert second.status == 200 and second.body["outcome"] == "sweep_ok"
    assert second.body["resumed"] == left
    assert sorted(second.body["archived_sids"]) == sorted(r.sid for r in older)
    assert second.body["resume_next"] is None
    assert space.count("list") - lists_before == 2  # the left window, then (2026-11-04T12:00:00, until)

    third = handle_sweep(relaxed, "POST", {}, io.BytesIO(BODY))
    assert third.body["resumed"] is None and third.body["already_archived"] == 4
    store = harness.store
    assert isinstance(store, GcsStore)
    records = [o.key for o in store.list_objects(f"{space.project_id}/{progress.PROGRESS_DIR}")]
    assert len(records) == 2  # what was left, then "nothing left"; a clean run writes nothing
    assert json.loads(store.read_bytes(records[-1]))["pending"] is None


def test_a_listing_failure_leaves_the_window_to_the_next_run(harness: Harness) -> None:
    rec = harness.space.add(created=created(2))
    harness.space.fault("*", "list", *[Fault(503)] * 1000)
    first = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    assert first.status == 500 and "listing recordings failed" in first.body["failed"][0]["error"]
    assert first.body["resume_next"] == {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-30T00:00:00+00:00"}
    harness.space.faults.clear()
    second = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    assert second.status == 200
    assert second.body["resumed"] == first.body["resume_next"]
    assert second.body["archived_sids"] == [rec.sid] and second.body["resume_next"] is None


def test_unreadable_progress_is_reported_and_the_window_still_swept(harness: Harness) -> None:
    rec = harness.space.add(created=created(2))
    key = f"{harness.space.project_id}/{progress.PROGRESS_DIR}{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-garbage.json"
    harness.store.put(key, VerifyingReader.of_bytes(b"{not json"), "application/json", {})
    reply = handle_sweep(harness.service, "POST", {}, io.BytesIO(BODY))
    assert reply.status == 500
    assert reply.body["archived_sids"] == [rec.sid]
    assert reply.body["failed"][0]["error"].startswith("reading sweep progress failed")


def test_a_local_archive_lists_its_objects_like_a_bucket(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True)
    first, second = harness.space.add(created=created(2)), harness.space.add(created=created(2, 5))
    archive_all(harness, [first, second])
    prefix = f"{harness.space.project_id}/2026/11/02/"
    keys = [o.key for o in harness.store.list_objects(prefix)]
    assert keys == sorted(f"{prefix}{rec.sid}.{ext}" for rec in (first, second) for ext in ("json", "mp3"))
    later = sorted(keys)[2]
    assert [o.key for o in harness.store.list_objects(prefix, start=later)] == sorted(keys)[2:]
    assert list(harness.store.list_objects(f"{harness.space.project_id}/2026/11/03/")) == []
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60)
    assert report.already_archived == 2 and report.archive_listings == 1


def test_a_shuffled_relay_list_lists_each_day_of_the_archive_once(harness: Harness, counts: ServerCounts) -> None:
    """The RELAY list's order is undocumented: rows that go back and forth between days still cost the archive
    one listing a day, where following the rows' order would list a day again at every change."""
    harness.space.listing.relay_order = "shuffled"
    days = (2, 3, 4)
    recs = [harness.space.add(size=2_000, api="relay", created=created(days[i % 3], i)) for i in range(24)]
    for rec in recs:
        assert harness.archiver.archive(rec.sid, api="relay").outcome == "archived"

    listed: list[str] = []
    counts.start()
    report = sweep(
        harness.archiver, *WINDOW, concurrency=4, deadline_s=300, on_listed=lambda r: listed.append(r["sid"])
    )
    assert report.already_archived == 24 and report.ok and not report.archived
    by_sid = {rec.sid: rec.created.date() for rec in recs}
    changes = sum(1 for a, b in pairwise(listed) if by_sid[a] != by_sid[b])
    assert changes > len(days)  # the shuffle does go back to days already seen
    assert report.archive_listings == len(days)
    gcs = counts.gcs()
    assert len(gcs) == len(days) and all(is_object_list(line, counts.bucket) for line in gcs)


def listed_days(lines: list[str], bucket: str, account_sid: str) -> Counter[str]:
    """Object-list requests by the day of the archive (`YYYY/MM/DD`) they list: one per page."""
    prefixes = (
        parse_qs(urlsplit(line.split()[1]).query)["prefix"][0] for line in lines if is_object_list(line, bucket)
    )
    return Counter(prefix.partition(f"{account_sid}/")[2].removesuffix("/") for prefix in prefixes)


def test_a_default_verify_lists_a_day_of_the_archive_for_each_view(
    harness: Harness, counts: ServerCounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost docs/operations.md states: the signalwire view lists each day its recordings fall on, and the
    archive view, once both APIs are listed, every calendar day of the window again, page by page: what it
    must show (pairs SignalWire did not list) is known only then, and holding the first listing's objects
    until then would make memory follow the window."""
    monkeypatch.setattr(storage, "LIST_PAGE_SIZE", PAGE)
    since, until = datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 11, 5, 6, tzinfo=UTC)
    recs = [harness.space.add(size=2_000, created=created((2, 4)[i % 2], i)) for i in range(13)]
    archive_all(harness, recs)
    gone = recs[0]
    assert harness.space.remove(gone.sid, gone.api).status_code == 204  # deleted at SignalWire, archived here

    counts.start()
    rows = list(verify(harness.archiver, since, until))
    assert sorted((row["view"], row["result"]) for row in rows) == [("archive", "ok")] + [("signalwire", "ok")] * 12
    assert [row["recording_sid"] for row in rows if row["view"] == "archive"] == [gone.sid]
    # Days 2 and 4 hold 14 and 12 objects: two pages of 10 each, listed by both views; days 1, 3 and 5 are
    # empty: one page each, listed by the archive view alone. 4 + 7 listings, where one per day and page is 7.
    assert listed_days(counts.gcs(), counts.bucket, harness.space.project_id) == {
        "2026/11/01": 1,
        "2026/11/02": 2 * 2,
        "2026/11/03": 1,
        "2026/11/04": 2 * 2,
        "2026/11/05": 1,
    }


@pytest.mark.parametrize(
    ("end", "last_day"), [((6, 0, 0), "2026/11/05"), ((0, 0, 0), "2026/11/04"), ((0, 0, 1), "2026/11/05")]
)
def test_the_archive_view_lists_no_day_after_the_windows_last_instant(
    harness: Harness, counts: ServerCounts, end: tuple[int, int, int], last_day: str
) -> None:
    """A window never holds its end: one ending at midnight has nothing on that day to list."""
    until = datetime(2026, 11, 5, *end, tzinfo=UTC)
    counts.start()
    assert list(verify(harness.archiver, datetime(2026, 11, 1, 6, tzinfo=UTC), until, views=("archive",))) == []
    assert max(listed_days(counts.gcs(), counts.bucket, harness.space.project_id)) == last_day
