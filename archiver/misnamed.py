"""Archives stored under an extension their bytes contradict: found, and copied to the right name where allowed."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import NamedTuple

from archiver.audioformat import CONTENT_TYPES, SNIFF_BYTES, sniff
from archiver.errors import Corrupt, DeleteForbidden
from archiver.layout import ArchiveKeys
from archiver.manifest import AUDIO_FORMAT, AUDIO_FORMAT_FROM, AUDIO_GENERATION, AUDIO_OBJECT, read_agreeing
from archiver.retention import retain
from archiver.storage import Retention, Store, StoredObject, VerifyingReader, put_or_existing


def extension(key: str) -> str:
    return key.rpartition(".")[2]


def wrong_name(key: str, head: bytes) -> tuple[str, str] | None:
    """(format, evidence) when the first bytes of the object at `key` are audio of another format than its name says."""
    found = sniff(head)
    return found if found is not None and found[0] != extension(key) else None


def first_bytes(store: Store, key: str) -> bytes:
    """The first bytes of a stored object: one read chunk at most is fetched."""
    chunks = store.iter_bytes(key)
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


class Renamed(NamedTuple):
    """A misnamed archive copied to its right name: what was done, and what retention left undone."""

    repaired: str | None
    incomplete: str | None


def rename(store: Store, keys: ArchiveKeys, retention: Retention | None) -> Renamed | None:
    """Copy an agreeing archive whose audio is named against its bytes to the name they give, point the manifest at
    the copy, and remove the old object; what retention forbids is said in the result, never forced. The copy gets
    `retention`. None when the name is right.

    The manifest's own `audio-format` says a name was chosen from the bytes: such an archive is not read again.
    An archive under a legal hold is left as it is (the hold names those objects), and the result says so.
    """
    audio, manifest = read_agreeing(store, keys)
    if manifest.metadata.get(AUDIO_FORMAT) == extension(audio.key):
        return None
    found = wrong_name(audio.key, first_bytes(store, audio.key))
    if found is None:
        return None
    if audio.held or manifest.held:
        # A copy would not carry the hold, and the manifest would move the recording off the held object.
        return Renamed(None, f"{audio.uri} is under a legal hold; not renamed until it is released")
    fmt, evidence = found
    right = f"{audio.key.rpartition('.')[0]}.{fmt}"
    try:
        copy = _copy(store, audio, right, fmt)
    except Corrupt as exc:
        # The copy is at fault, not the archive: raised on, it would reach the repair of corrupt archives,
        # which deletes the audio the manifest names, intact as it is, to fetch it again.
        return Renamed(None, f"not renamed: {exc}")
    copy = retain(store, copy, retention)
    recorded = {
        **manifest.metadata,
        AUDIO_OBJECT: copy.uri,
        AUDIO_GENERATION: str(copy.generation),
        AUDIO_FORMAT: fmt,
        AUDIO_FORMAT_FROM: f"bytes: {evidence} (renamed from .{extension(audio.key)})",
    }
    store.set_metadata(manifest.key, manifest.generation, recorded)
    repaired = f"renamed {audio.uri} to {copy.uri}: its bytes are {fmt} ({evidence})"
    try:
        store.delete(audio.key, audio.generation)
    except DeleteForbidden as exc:
        return Renamed(repaired, f"{audio.uri} cannot be removed yet ({exc}); the manifest names the copy")
    return Renamed(repaired, None)


def _copy(store: Store, audio: StoredObject, key: str, fmt: str) -> StoredObject:
    """The same bytes under `key`, verified against the original's size and CRC32C as they stream through."""
    chunks = store.iter_bytes(audio.key)
    reader = VerifyingReader(_Chunks(iter(chunks)), audio.size)
    copy, created = put_or_existing(store, key, reader, CONTENT_TYPES[fmt], dict(audio.metadata))
    if not created:
        # An earlier repair copied it and stopped before the manifest: keep the copy only if it is the same bytes.
        # Those are judged by the stored figures, so the source stream is closed, not downloaded to its end.
        if isinstance(chunks, Generator):
            chunks.close()
        if (copy.size, copy.crc32c) != (audio.size, audio.crc32c):
            raise Corrupt(f"{copy.uri} holds other bytes than {audio.uri}; not replaced")
        return copy
    if (copy.size, copy.crc32c) != (audio.size, audio.crc32c):
        # Ours, just made, never named by a manifest: removed so that it cannot block the next repair.
        store.delete(copy.key, copy.generation)
        raise Corrupt(f"{copy.uri}: the copy of {audio.uri} does not match it")
    return copy
