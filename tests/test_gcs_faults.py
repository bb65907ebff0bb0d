"""The archiver against GCS faults the strict proxy injects: each ends in one consistent archive, nothing partial.

fake-gcs-server never fails and overwrites what a retry sends again, so before the proxy none of these
paths (a create answered 412 after its own lost answer, a dead resumable session, a 429) ran against GCS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from archiver.storage import GcsStore
from archiver.sweep import sweep
from archiver.verify import verify
from localspace.space import FakeRecording
from localspace.strictgcs import GCS_MUTATION_INTERVAL_S, Fault, StrictGcs
from tests.helpers import WINDOW, Harness, blob_name, blobs

# Above google-cloud-storage's 8 MiB multipart ceiling: only such uploads go through a resumable session.
RESUMABLE = 9 * 1024 * 1024


def names(harness: Harness, rec: FakeRecording) -> tuple[str, str, str, str]:
    """Audio key, manifest key, and the object names they have in the bucket."""
    audio_key, meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())
    return audio_key, meta_key, blob_name(harness, audio_key), blob_name(harness, meta_key)


def bucket_name(harness: Harness) -> str:
    store = harness.store
    assert isinstance(store, GcsStore)
    return store.bucket_name


def assert_one_consistent_archive(harness: Harness, rec: FakeRecording) -> None:
    """Exactly the two objects, the audio SignalWire serves, a manifest that agrees with it, both retained."""
    audio_key, meta_key, audio_name, meta_name = names(harness, rec)
    store = harness.store
    assert isinstance(store, GcsStore)
    assert set(blobs(harness)) == {audio_name, meta_name}
    audio, manifest = harness.archiver.evidence(audio_key, meta_key)
    assert b"".join(store.iter_bytes(audio_key)) == rec.audio()
    assert audio.metadata["sha256"] == rec.sha256()
    assert manifest.metadata["audio-size-verified"] == "true"
    if harness.settings.object_retention_days:
        assert audio.retained_until is not None and manifest.retained_until is not None
    (row,) = verify(harness.archiver, *WINDOW)
    assert row["result"] == "ok", row


def refused(strict: StrictGcs, harness: Harness) -> set[tuple[int, str]]:
    """What the proxy refused in this harness's bucket: (status, reason)."""
    return {(status, reason) for path, status, reason in strict.refused if f"/b/{bucket_name(harness)}/" in path}


def faulted(
    make_harness: Callable[..., Harness], strict: StrictGcs, fault: Fault, size: int = 300_000, manifest: bool = False
) -> tuple[Harness, FakeRecording, str]:
    """A retaining archive, a recording, and `fault` queued for its audio (or manifest) object's name."""
    harness = make_harness(OBJECT_RETENTION_DAYS="7")
    rec = harness.space.add(size=size)
    name = names(harness, rec)[3 if manifest else 2]
    strict.inject(bucket_name(harness), name, fault)
    return harness, rec, name


def spent(strict: StrictGcs, harness: Harness, name: str) -> bool:
    """Whether every fault queued for `name` was used."""
    return not strict.faults.get((bucket_name(harness), name))


def archive_until_done(harness: Harness, rec: FakeRecording, attempts: int = 3) -> list[str]:
    """What SignalWire's retries (or the next sweep) do after a failed callback: archive again."""
    outcomes = []
    for _ in range(attempts):
        outcome = harness.archiver.archive(rec.sid)
        outcomes.append(outcome.outcome)
        if outcome.ok:
            break
        assert outcome.retryable, outcome.error
    return outcomes


@pytest.mark.parametrize("what", ["audio", "manifest"])
@pytest.mark.parametrize("answer", ["reset", "503"])
def test_a_create_whose_answer_is_lost_is_adopted(
    make_harness: Callable[..., Harness], strict: StrictGcs, what: str, answer: str
) -> None:
    """The client sends the create again and meets 412: the object it made itself, adopted after checking."""
    harness, rec, name = faulted(make_harness, strict, Fault("lose", answer, "write"), manifest=what == "manifest")
    assert archive_until_done(harness, rec) == ["archived"]
    assert spent(strict, harness, name)
    assert (412, "conditionNotMet") in refused(strict, harness)
    assert_one_consistent_archive(harness, rec)


@pytest.mark.parametrize("answer", ["reset", "503"])
def test_a_patch_whose_answer_is_lost_is_sent_again(
    make_harness: Callable[..., Harness], strict: StrictGcs, answer: str
) -> None:
    """The SHA-256 and retention patch is sent again under the same generation precondition, as GCS allows."""
    harness, rec, audio_name = faulted(make_harness, strict, Fault("lose", answer, "patch"))
    assert archive_until_done(harness, rec) == ["archived"]
    assert spent(strict, harness, audio_name)
    assert_one_consistent_archive(harness, rec)


def test_a_resumable_session_that_dies_is_started_over_in_the_same_attempt(
    make_harness: Callable[..., Harness], strict: StrictGcs
) -> None:
    harness, rec, audio_name = faulted(make_harness, strict, Fault("gone"), RESUMABLE)
    # The same attempt starts the upload over (SignalWire may never retry a callback answered 503).
    assert archive_until_done(harness, rec) == ["archived"]
    assert spent(strict, harness, audio_name)
    assert {(503, "backendError"), (410, "gone")} <= refused(strict, harness)
    assert_one_consistent_archive(harness, rec)


@pytest.mark.parametrize("answer", ["reset", "503"])
def test_a_resumable_upload_whose_last_answer_is_lost_ends_archived(
    make_harness: Callable[..., Harness], strict: StrictGcs, answer: str
) -> None:
    harness, rec, audio_name = faulted(make_harness, strict, Fault("lose", answer, "write"), RESUMABLE)
    assert archive_until_done(harness, rec) == ["archived"]
    assert spent(strict, harness, audio_name)
    assert_one_consistent_archive(harness, rec)


@pytest.mark.parametrize("what", ["write", "patch"])
def test_a_429_is_waited_out(make_harness: Callable[..., Harness], strict: StrictGcs, what: str) -> None:
    harness, rec, audio_name = faulted(make_harness, strict, Fault("throttle", what=what))
    assert archive_until_done(harness, rec) == ["archived"]
    assert spent(strict, harness, audio_name)
    assert (429, "rateLimitExceeded") in refused(strict, harness)
    assert_one_consistent_archive(harness, rec)


def test_gcs_one_write_per_second_per_name(make_harness: Callable[..., Harness], strict: StrictGcs) -> None:
    """The upload and its SHA-256 patch come within a second: the second waits for GCS's limit, not fails."""
    strict.mutation_interval_s = GCS_MUTATION_INTERVAL_S
    harness = make_harness(OBJECT_RETENTION_DAYS="7")
    rec = harness.space.add(size=300_000)
    assert archive_until_done(harness, rec) == ["archived"]
    assert (429, "rateLimitExceeded") in refused(strict, harness)
    assert_one_consistent_archive(harness, rec)


def test_a_retained_archive_that_disagrees_is_not_repaired_away_on_gcs(
    make_harness: Callable[..., Harness], strict: StrictGcs
) -> None:
    """GCS refuses to delete a retained object (403); the sweep reports it corrupt and leaves it."""
    harness = make_harness(OBJECT_RETENTION_DAYS="30")
    rec = harness.space.add(size=30_000, created=datetime(2026, 11, 3, tzinfo=UTC))
    assert harness.archiver.archive(rec.sid).outcome == "archived"
    audio_key = names(harness, rec)[0]
    stored = harness.store.stat(audio_key)
    assert stored is not None
    # Metadata may change under retention; the recorded digest no longer matches the manifest.
    harness.store.set_metadata(audio_key, stored.generation, {**stored.metadata, "sha256": "0" * 64})
    report = sweep(harness.archiver, *WINDOW, concurrency=1, deadline_s=60, repair=True)
    assert [row["sid"] for row in report.corrupt] == [rec.sid]
    assert "cannot repair" in report.corrupt[0]["error"]
    assert (403, "retentionPolicyNotMet") in refused(strict, harness)
    assert b"".join(harness.store.iter_bytes(audio_key)) == rec.audio()
