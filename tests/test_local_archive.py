"""The local-directory archive keeps the same layout and guarantees as the bucket."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.errors import AlreadyExists, DeleteForbidden, IntegrityError
from archiver.retention import retain
from archiver.storage import LocalStore, Retention, VerifyingReader, put_or_existing
from localspace.space import Fault
from tests.helpers import Harness


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_archives_into_the_same_layout(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True)
    rec = harness.space.add(size=3 * 1024 * 1024 + 5)
    reply = harness.post(harness.form(rec.sid))
    assert reply.status == 200
    root = Path(harness.settings.archive_uri)
    base = f"{harness.space.project_id}/{rec.created:%Y/%m/%d}/{rec.sid}"
    found = files(root)
    assert found[f"{base}.mp3"] == rec.audio()
    assert found[f"{base}.json"].startswith(b"{")
    assert reply.body["audio_uri"] == (root / f"{base}.mp3").as_uri()
    stat = harness.store.stat(f"{base}.mp3")
    assert stat is not None
    assert stat.metadata["sha256"] == rec.sha256()
    assert harness.post(harness.form(rec.sid)).body["outcome"] == "already_archived"


def test_failure_leaves_no_final_and_no_partial_files(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(local=True)
    rec = harness.space.add(size=2 * 1024 * 1024)
    harness.space.fault(rec.sid, "media", *[Fault(truncate_at=1_500_000)] * 1000)
    assert harness.post(harness.form(rec.sid)).status == 503
    root = Path(harness.settings.archive_uri)
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_create_only_and_verified(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path), 1024)
    first = store.put("a/b.mp3", VerifyingReader.of_bytes(b"x" * 5000), "audio/mpeg", {"k": "v"})
    assert first.size == 5000
    with pytest.raises(AlreadyExists):
        store.put("a/b.mp3", VerifyingReader.of_bytes(b"y" * 5000), "audio/mpeg", {})
    assert store.read_bytes("a/b.mp3") == b"x" * 5000
    updated = store.set_metadata("a/b.mp3", first.generation, {"sha256": "abc"})
    assert updated.metadata == {"k": "v", "sha256": "abc"}
    store.delete("a/b.mp3", first.generation + 1)  # another generation: kept
    assert store.stat("a/b.mp3") is not None
    store.delete("a/b.mp3", first.generation)
    assert store.stat("a/b.mp3") is None


def test_a_create_conflict_hands_back_the_first_object_and_retention_only_grows(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path), 1024)
    first = put_or_existing(store, "a/b.json", VerifyingReader.of_bytes(b"one"), "application/json", {"k": "1"})
    second = put_or_existing(store, "a/b.json", VerifyingReader.of_bytes(b"two!"), "application/json", {"k": "2"})
    assert (first.created, second.created) == (True, False)
    assert (second.obj.generation, second.obj.metadata) == (first.obj.generation, {"k": "1"})
    assert store.read_bytes("a/b.json") == b"one"
    assert retain(store, first.obj, None) is first.obj
    until = datetime.now(UTC) + timedelta(days=2)
    retained = retain(store, first.obj, Retention("Unlocked", until))
    assert retained.retained_until is not None and abs(retained.retained_until - until) < timedelta(seconds=1)
    assert retain(store, retained, Retention("Unlocked", until - timedelta(days=1))) is retained
    with pytest.raises(DeleteForbidden):
        store.delete("a/b.json", retained.generation)


def test_reader_refuses_short_and_long_bodies() -> None:
    short = VerifyingReader(io.BytesIO(b"x" * 10), expected_size=11)
    with pytest.raises(IntegrityError, match="ended after 10 of 11"):
        short.read_all()
    long = VerifyingReader(io.BytesIO(b"x" * 12), expected_size=11)
    with pytest.raises(IntegrityError, match="more than"):
        long.read_all()


def test_reader_fills_every_read_from_a_trickling_source() -> None:
    class Trickle:
        def __init__(self) -> None:
            self.data = io.BytesIO(bytes(range(256)) * 40)

        def read(self, size: int) -> bytes:
            return self.data.read(min(size, 7))

    reader = VerifyingReader(Trickle(), expected_size=None)
    assert len(reader.read(1000)) == 1000  # a short read would end a resumable upload early
    assert reader.tell() == 1000
    assert len(reader.read_all()) == 10240 - 1000
