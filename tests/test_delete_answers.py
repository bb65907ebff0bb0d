"""The archiver against what SignalWire's DELETE and RELAY read answer, as the stand-in plays them from the spec.

Both DELETEs document 204 (no body) for a deleted recording and 404 for one the space does not have
(compatibility-api/recordings/main.tsp 131-143, relay-rest/recordings/main.tsp 46-61): archiver/deletion.py
reads 204 as deleted and 404 as gone already (200 too, which neither documents: a success all the same).
Every other documented answer (400, 401, 422, and 500 once retries are spent) leaves SignalWire's copy
and the archive as they are, without a deletion record. The error bodies are each API's own
(tests/contract/test_delete_and_not_found.py); the archiver reads only the status.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archiver import config
from archiver.sweep import sweep
from localspace.space import Fault
from tests.helpers import WINDOW, Harness, created, env_for, stored


def archived_with_delete(harness: Harness, api: str, *faults: Fault) -> tuple[str, bool | None, int | None]:
    """Archive a new `api` recording with delete on, `faults` scripted on its DELETE; its sid, deleted and status."""
    rec = harness.space.add(size=20_000, api=api, **({"fmt": "wav"} if api == "relay" else {}))
    harness.space.fault(rec.sid, "delete", *faults)
    outcome = harness.archiver.archive(rec.sid, api=api, delete=True)
    assert outcome.outcome == "archived", outcome
    deletion = outcome.deletion
    return rec.sid, outcome.deleted, deletion.status if deletion is not None else None


@pytest.mark.parametrize("api", ["laml", "relay"])
def test_204_is_deleted_and_404_is_gone_already(make_harness: Callable[..., Harness], api: str) -> None:
    harness = make_harness()
    sid, deleted, status = archived_with_delete(harness, api)
    assert (deleted, status) == (True, 204) and harness.space.deleted == [sid]
    # Someone deleted it between the archive and our DELETE: the space's documented 404 says it is gone.
    sid, deleted, status = archived_with_delete(harness, api, Fault(404))
    assert (deleted, status) == (True, 404) and sid in harness.space.recordings
    assert sum(1 for key in stored(harness) if key.endswith(".deletion.json")) == 2


@pytest.mark.parametrize(
    ("api", "status"), [("laml", 400), ("laml", 401), ("laml", 422), ("relay", 401), ("relay", 422)]
)
def test_every_other_documented_answer_leaves_both_copies(
    make_harness: Callable[..., Harness], api: str, status: int
) -> None:
    harness = make_harness()
    sid, deleted, answered = archived_with_delete(harness, api, Fault(status))
    assert (deleted, answered) == (False, status) and sid in harness.space.recordings
    assert not any(key.endswith(".deletion.json") for key in stored(harness))


def test_a_relay_500_is_retried_and_then_left_undeleted(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    sid, deleted, _ = archived_with_delete(harness, "relay", *[Fault(500)] * 1000)
    assert deleted is False and sid in harness.space.recordings
    assert harness.space.count("delete", sid) > 1


def test_a_relay_event_for_a_recording_the_space_answers_404_for_is_retried_not_stored(harness: Harness) -> None:
    """relay-rest main.tsp 39-42: the documented `{"error": "Not Found"}` (a recording can lag its event): the
    archiver answers 5xx so SignalWire sends the event again, and stores nothing."""
    rec = harness.space.add(size=20_000, api="relay")
    event = harness.space.event(rec)
    del harness.space.recordings[rec.sid]
    reply = harness.post_event(event)
    assert reply.status >= 500 and reply.body["outcome"] == "failed"
    assert harness.space.count("relay-json", rec.sid) > 1 and harness.space.count("media") == 0
    assert stored(harness) == {}
    # Once the space has it, the event sent again archives it.
    harness.space.recordings[rec.sid] = rec
    assert harness.post_event(event).body["outcome"] == "archived"


def test_an_archive_in_the_former_format_is_sized_in_its_own(make_harness: Callable[..., Harness]) -> None:
    """RECORDING_FORMAT switched from wav to mp3, deletes on: a WAV archive is checked against the size SignalWire
    announces for its .wav (PCM, four times the MP3's), not for the .mp3 asked for now. Before: the proven one was
    reported corrupt at every sweep and never deleted; the unproven one was removed and fetched again as MP3."""
    before = make_harness(RECORDING_FORMAT="wav")
    proven, unproven = (before.space.add(size=20_000, created=created(day)) for day in (4, 5))
    before.space.fault(unproven.sid, "media", Fault(no_length=True))
    before.space.fault(unproven.sid, "head", Fault(no_length=True))
    outcomes = [before.archiver.archive(rec.sid) for rec in (proven, unproven)]
    assert [(o.outcome, o.size_verified, o.bytes) for o in outcomes] == [("archived", True, 80_000)] * 1 + [
        ("archived", False, 80_000)
    ]
    # The same bucket, now deployed with MP3 and deletes.
    settings = config.load(env_for(before.space, ARCHIVE_URI=before.settings.archive_uri, DELETE_AFTER_ARCHIVE="true"))
    after = Harness(before.space, before.store, settings)
    report = sweep(after.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert (report.already_archived, report.deleted, report.corrupt, report.repaired) == (2, 2, [], [])
    assert sorted(after.space.deleted) == sorted([proven.sid, unproven.sid])
    assert (
        sorted(key.rpartition(".")[2] for key in stored(after) if ".deletion." not in key) == ["json"] * 2 + ["wav"] * 2
    )
