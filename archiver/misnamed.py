"""Archives stored under an extension their bytes contradict (before formats came from the bytes): found, and
copied to the right name where retention allows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archiver.audioformat import CONTENT_TYPES, SNIFF_BYTES, sniff
from archiver.errors import AlreadyExists, Corrupt, DeleteForbidden
from archiver.storage import StoredObject, VerifyingReader

if TYPE_CHECKING:
    from archiver.archive import Archiver, Outcome


def extension(key: str) -> str:
    return key.rpartition(".")[2]


def wrong_name(key: str, head: bytes) -> tuple[str, str] | None:
    """(format, evidence) when the first bytes of the object at `key` are audio of another format than its name says."""
    found = sniff(head)
    return found if found is not None and found[0] != extension(key) else None


def first_bytes(archiver: Archiver, key: str) -> bytes:
    """The first bytes of a stored object: one read chunk at most is fetched."""
    chunks = archiver.store.iter_bytes(key)
    try:
        return next(chunks, b"")[:SNIFF_BYTES]
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


class _Chunks:
    """A file-like view of an iterator of chunks, for VerifyingReader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def read(self, size: int) -> bytes:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return b""
        piece, self._pending = self._pending[:size], self._pending[size:]
        return piece


def rename(archiver: Archiver, outcome: Outcome, keys: tuple[str, str]) -> None:
    """Copy an agreeing archive whose audio is named against its bytes to the name they give, point the manifest at
    the copy, and remove the old object; what retention forbids is said in the outcome, never forced.

    The manifest's own `audio-format` says a name was chosen from the bytes: such an archive is not read again.
    An archive under a legal hold is left as it is (the hold names those objects), and the outcome says so.
    """
    audio, manifest = archiver.evidence(*keys)
    if manifest.metadata.get("audio-format") == extension(audio.key):
        return
    found = wrong_name(audio.key, first_bytes(archiver, audio.key))
    if found is None:
        return
    if audio.held or manifest.held:
        # A copy would not carry the hold, and the manifest would move the recording off the held object.
        outcome.extra["repair_incomplete"] = f"{audio.uri} is under a legal hold; not renamed until it is released"
        return
    fmt, evidence = found
    right = f"{audio.key.rpartition('.')[0]}.{fmt}"
    try:
        copy = _copy(archiver, audio, right, fmt)
    except Corrupt as exc:
        # The copy is at fault, not the archive: raised on, it would reach the repair of corrupt archives,
        # which deletes the audio the manifest names, intact as it is, to fetch it again.
        outcome.extra["repair_incomplete"] = f"not renamed: {exc}"
        return
    retention = archiver.retention() if outcome.size_verified else None
    if retention is not None and copy.retained_until is None:
        copy = archiver.store.set_metadata(copy.key, copy.generation, copy.metadata, retention)
    recorded = {
        **manifest.metadata,
        "audio-object": copy.uri,
        "audio-generation": str(copy.generation),
        "audio-format": fmt,
        "audio-format-from": f"bytes: {evidence} (renamed from .{extension(audio.key)})",
    }
    archiver.store.set_metadata(manifest.key, manifest.generation, recorded)
    outcome.audio_uri = copy.uri
    outcome.generation = copy.generation
    outcome.extra["repaired"] = f"renamed {audio.uri} to {copy.uri}: its bytes are {fmt} ({evidence})"
    try:
        archiver.store.delete(audio.key, audio.generation)
    except DeleteForbidden as exc:
        outcome.extra["repair_incomplete"] = f"{audio.uri} cannot be removed yet ({exc}); the manifest names the copy"
    archiver.check_archived(outcome, keys)


def _copy(archiver: Archiver, audio: StoredObject, key: str, fmt: str) -> StoredObject:
    """The same bytes under `key`, verified against the original's size and CRC32C as they stream through."""
    chunks = archiver.store.iter_bytes(audio.key)
    reader = VerifyingReader(_Chunks(iter(chunks)), audio.size)
    try:
        copy = archiver.store.put(key, reader, CONTENT_TYPES[fmt], dict(audio.metadata))
    except AlreadyExists:
        # An earlier repair copied it and stopped before the manifest: keep the copy only if it is the same bytes.
        with contextlib.suppress(Exception):
            reader.drain()
        existing = archiver.store.stat(key)
        if existing is None or (existing.size, existing.crc32c) != (audio.size, audio.crc32c):
            raise Corrupt(f"{archiver.store.uri(key)} holds other bytes than {audio.uri}; not replaced") from None
        return existing
    if (copy.size, copy.crc32c) != (audio.size, audio.crc32c):
        # Ours, just made, never named by a manifest: removed so that it cannot block the next repair.
        archiver.store.delete(copy.key, copy.generation)
        raise Corrupt(f"{copy.uri}: the copy of {audio.uri} does not match it")
    return copy
