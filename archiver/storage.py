"""Create-only, verified object writes to a GCS bucket or a local directory, streamed in chunks."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import google_crc32c

from archiver.config import ConfigError
from archiver.errors import (
    AlreadyExists,
    DeleteForbidden,
    HoldNotConfirmed,
    IntegrityError,
    TooLarge,
    TransientError,
    UploadRestart,
)

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Bucket

# google-cloud-storage reads a multipart upload whole into memory; only small bodies go that way.
_MULTIPART_MAX = 8 * 1024 * 1024
# GCS's largest page; a listing costs one request per this many objects.
LIST_PAGE_SIZE = 1000
# What a listing needs of each object (real GCS honours `fields`; fake-gcs-server sends everything).
_LIST_FIELDS = "items(name,size,crc32c,generation,metadata,retention,temporaryHold),nextPageToken"


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    size: int
    crc32c: str
    generation: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    retained_until: datetime | None = None
    # A GCS temporary hold (a legal hold): the object can be neither deleted nor replaced while it is set.
    held: bool = False


@dataclass(frozen=True)
class Retention:
    """Object retention, set only once an object is verified: GCS's mode (Unlocked or Locked) and its end.

    Unverified bytes stay deletable, so a failed attempt never blocks the name it was written under.
    """

    mode: str
    until: datetime


class Source(Protocol):
    def read(self, size: int) -> bytes: ...


class VerifyingReader:
    """A file-like view of a source that hashes as it goes and refuses a short, long or oversized body.

    `read(n)` always returns n bytes until the end: resumable uploads take a short read as the
    last chunk, so a source that merely paused must never look finished.
    """

    def __init__(self, source: Source, expected_size: int | None, max_size: int | None = None) -> None:
        self._source = source
        self.expected_size = expected_size
        self.max_size = max_size
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._crc = google_crc32c.Checksum()
        self.finished = False

    @classmethod
    def of_bytes(cls, data: bytes) -> VerifyingReader:
        return cls(io.BytesIO(data), len(data))

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.read_all()
        parts: list[bytes] = []
        wanted = size
        while wanted > 0 and not self.finished:
            chunk = self._source.read(wanted)
            if not chunk:
                self._finish()
                break
            self._consume(chunk)
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)

    def read_all(self, chunk_size: int = 1024 * 1024) -> bytes:
        parts = []
        while chunk := self.read(chunk_size):
            parts.append(chunk)
        return b"".join(parts)

    def drain(self, chunk_size: int = 1024 * 1024) -> None:
        """Read to the end without keeping the bytes, to learn the body's checksums."""
        while self.read(chunk_size):
            pass

    def tell(self) -> int:
        return self.size

    def _consume(self, data: bytes) -> None:
        self.size += len(data)
        if self.expected_size is not None and self.size > self.expected_size:
            raise IntegrityError(f"source sent more than the announced {self.expected_size} bytes")
        if self.max_size is not None and self.size > self.max_size:
            raise TooLarge(f"source sent more than {self.max_size} bytes (MAX_RECORDING_MB); aborted")
        self._sha256.update(data)
        self._crc.update(data)

    def _finish(self) -> None:
        self.finished = True
        if self.expected_size is not None and self.size != self.expected_size:
            raise IntegrityError(f"source ended after {self.size} of {self.expected_size} bytes")

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def crc32c(self) -> str:
        """Base64 of the big-endian CRC32C, the form GCS reports."""
        return base64.b64encode(self._crc.digest()).decode()


def crc32c_of(chunks: Iterator[bytes]) -> tuple[int, str, str]:
    """Size, CRC32C (GCS form) and SHA-256 of a stream of chunks."""
    crc = google_crc32c.Checksum()
    sha = hashlib.sha256()
    size = 0
    for chunk in chunks:
        crc.update(chunk)
        sha.update(chunk)
        size += len(chunk)
    return size, base64.b64encode(crc.digest()).decode(), sha.hexdigest()


class Store(Protocol):
    """Where the archive lives. Keys are relative to the archive's root/prefix."""

    def uri(self, key: str) -> str: ...
    def stat(self, key: str) -> StoredObject | None: ...
    def read_bytes(self, key: str) -> bytes: ...
    def iter_bytes(self, key: str) -> Iterator[bytes]: ...
    def put(self, key: str, reader: VerifyingReader, content_type: str, metadata: dict[str, str]) -> StoredObject: ...
    def set_metadata(
        self, key: str, generation: int, metadata: dict[str, str], retention: Retention | None = None
    ) -> StoredObject: ...
    def delete(self, key: str, generation: int) -> None: ...
    def set_hold(self, key: str, held: bool) -> StoredObject:
        """Set or clear the object's temporary hold; raises HoldNotConfirmed when the store's answer disagrees."""
        ...

    def list_objects(self, prefix: str, start: str = "") -> Iterator[StoredObject]:
        """Objects whose keys begin with `prefix` (and sort at or after `start`), in key order, page by page."""
        ...


class Put(NamedTuple):
    """What a create-only put came to: the object now under the key, and whether this put created it."""

    obj: StoredObject
    created: bool


def put_or_existing(
    store: Store, key: str, reader: VerifyingReader, content_type: str, metadata: dict[str, str]
) -> Put:
    """Create the object; when another attempt created it first, the object that is there, for the caller to judge."""
    try:
        return Put(store.put(key, reader, content_type, metadata), created=True)
    except AlreadyExists:
        existing = store.stat(key)
    if existing is None:
        raise TransientError(f"{store.uri(key)} vanished after a create conflict")
    return Put(existing, created=False)


def _check_stored(obj: StoredObject, reader: VerifyingReader) -> None:
    if obj.size != reader.size or obj.crc32c != reader.crc32c:
        raise IntegrityError(
            f"{obj.uri} holds {obj.size} bytes crc32c {obj.crc32c}, streamed {reader.size} bytes crc32c {reader.crc32c}"
        )


class GcsStore:
    """A bucket and prefix reached through google-cloud-storage (honours STORAGE_EMULATOR_HOST)."""

    def __init__(self, bucket: str, prefix: str, chunk_size: int, client: Any = None) -> None:
        from google.cloud import storage

        self._client = client or storage.Client()
        self._bucket: Bucket = self._client.bucket(bucket)
        self._prefix = prefix
        self._chunk_size = chunk_size
        self.bucket_name = bucket

    def _name(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(key)}"

    def list_objects(self, prefix: str, start: str = "") -> Iterator[StoredObject]:
        root = self._name("")
        blobs = self._client.list_blobs(
            self._bucket,
            prefix=self._name(prefix),
            start_offset=self._name(start) if start else None,
            page_size=LIST_PAGE_SIZE,
            fields=_LIST_FIELDS,
        )
        for blob in blobs:
            yield self._to_stored(blob.name[len(root) :], blob)

    def _to_stored(self, key: str, blob: Blob) -> StoredObject:
        return StoredObject(
            key=key,
            uri=self.uri(key),
            size=int(blob.size or 0),
            crc32c=blob.crc32c or "",
            generation=int(blob.generation or 0),
            content_type=blob.content_type or "",
            metadata=dict(blob.metadata or {}),
            retained_until=blob.retention.retain_until_time,
            held=bool(blob.temporary_hold),
        )

    def stat(self, key: str) -> StoredObject | None:
        blob = self._bucket.get_blob(self._name(key))
        return None if blob is None else self._to_stored(key, blob)

    def read_bytes(self, key: str) -> bytes:
        return bytes(self._bucket.blob(self._name(key)).download_as_bytes())

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        with self._bucket.blob(self._name(key), chunk_size=self._chunk_size).open("rb") as handle:
            while chunk := handle.read(self._chunk_size):
                yield chunk

    def put(self, key: str, reader: VerifyingReader, content_type: str, metadata: dict[str, str]) -> StoredObject:
        from google.api_core.exceptions import GoogleAPICallError, PreconditionFailed

        small = reader.expected_size is not None and reader.expected_size <= min(self._chunk_size, _MULTIPART_MAX)
        blob = self._bucket.blob(self._name(key), chunk_size=None if small else self._chunk_size)
        blob.metadata = metadata
        try:
            if small:
                # One request; the bytes are bounded by the chunk size, like a resumable chunk.
                blob.upload_from_string(reader.read_all(), content_type=content_type, if_generation_match=0)
            else:
                blob.upload_from_file(
                    reader, size=reader.expected_size, content_type=content_type, if_generation_match=0, checksum=None
                )
        except PreconditionFailed:
            raise AlreadyExists(self.uri(key)) from None
        except GoogleAPICallError as exc:
            if exc.code != HTTPStatus.GONE:
                raise
            # A session GCS expired or lost cannot be resumed; nothing was created, so the caller may start over.
            raise UploadRestart(f"{self.uri(key)}: resumable upload session ended: {exc.message}") from None
        stored = self._to_stored(key, blob)
        try:
            _check_stored(stored, reader)
        except IntegrityError:
            self.delete(key, stored.generation)
            raise
        return stored

    def set_metadata(
        self, key: str, generation: int, metadata: dict[str, str], retention: Retention | None = None
    ) -> StoredObject:
        blob = self._bucket.blob(self._name(key))
        blob.metadata = metadata
        if retention is not None:
            # One PATCH: the SHA-256 that marks the object verified and the retention that freezes it.
            blob.retention.mode = retention.mode
            blob.retention.retain_until_time = retention.until
        blob.patch(if_generation_match=generation)
        return self._to_stored(key, blob)

    def set_hold(self, key: str, held: bool) -> StoredObject:
        blob = self._bucket.blob(self._name(key))
        blob.temporary_hold = held
        # No generation precondition: a hold is about the name's current object, and setting it twice is harmless.
        blob.patch()
        stored = self._to_stored(key, blob)
        if stored.held != held:
            # A server that ignores the field (fake-gcs-server does) must not let a hold look set.
            answer = blob.temporary_hold
            raise HoldNotConfirmed(f"{stored.uri}: asked for temporaryHold={held}, the answer says {answer}")
        return stored

    def delete(self, key: str, generation: int) -> None:
        from google.api_core.exceptions import Forbidden, NotFound, PreconditionFailed

        try:
            self._bucket.blob(self._name(key)).delete(if_generation_match=generation)
        # Gone already, or replaced by a newer generation that is not ours to remove.
        except (NotFound, PreconditionFailed):
            return
        except Forbidden as exc:
            # A retention policy, an object retention or a hold: GCS answers 403 for all of them.
            raise DeleteForbidden(f"{self.uri(key)}: {exc.message}") from None


_FILE_MODE = 0o640
_DIR_MODE = 0o750


def _makedirs(path: Path) -> None:
    """Create `path` and any missing parents as 0750: recordings are not for every local user."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, _DIR_MODE)
            os.chmod(directory, _DIR_MODE)


def _create(path: Path) -> io.BufferedWriter:
    """A new file, 0640 whatever the umask, refusing an existing name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    os.fchmod(fd, _FILE_MODE)
    return os.fdopen(fd, "wb")


class LocalStore:
    """A directory with the bucket's layout; custom metadata lives in a hidden `.meta/` tree."""

    def __init__(self, root: str, chunk_size: int) -> None:
        self.root = Path(root)
        self._chunk_size = chunk_size

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if key.startswith("/") or any(part in ("", ".", "..") or "\\" in part for part in parts):
            # Keys come from SIDs and dates that were checked; this is the last line against a path escape.
            raise ValueError(f"not an archive key: {key[:120]!r}")
        return self.root.joinpath(*parts)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / f"{self._path(key).relative_to(self.root)}.json"

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        try:
            attrs = json.loads(self._meta_path(key).read_text())
        except (FileNotFoundError, ValueError):
            attrs = {}
        crc = attrs.get("crc32c")
        if attrs.get("generation") != st.st_mtime_ns or not crc:
            crc = crc32c_of(self.iter_bytes(key))[1]
        return StoredObject(
            key=key,
            uri=self.uri(key),
            size=st.st_size,
            crc32c=crc,
            generation=st.st_mtime_ns,
            content_type=attrs.get("content_type", ""),
            metadata=dict(attrs.get("metadata", {})),
            retained_until=datetime.fromisoformat(attrs["retain_until"]) if attrs.get("retain_until") else None,
            held=attrs.get("temporary_hold") is True,
        )

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def list_objects(self, prefix: str, start: str = "") -> Iterator[StoredObject]:
        # Keys are paths: walk the deepest directory the prefix names, then filter by the whole prefix.
        directory = self.root.joinpath(*prefix.split("/")[:-1])
        if not directory.is_dir():
            return
        keys = []
        for path in directory.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            # The metadata tree and unfinished writes are not objects.
            if path.is_file() and not key.startswith(".meta/") and not path.name.endswith(".partial"):
                keys.append(key)
        for key in sorted(keys):
            if key.startswith(prefix) and key >= start and (stored := self.stat(key)) is not None:
                yield stored

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        return self._iter_path(self._path(key))

    def _write_attrs(self, key: str, attrs: dict[str, Any]) -> None:
        path = self._meta_path(key)
        _makedirs(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        with _create(tmp) as handle:
            handle.write(json.dumps(attrs, sort_keys=True).encode())
        os.replace(tmp, path)

    def put(self, key: str, reader: VerifyingReader, content_type: str, metadata: dict[str, str]) -> StoredObject:
        final = self._path(key)
        _makedirs(final.parent)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
        try:
            with _create(tmp) as handle:
                while chunk := reader.read(self._chunk_size):
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            size, crc, _ = crc32c_of(self._iter_path(tmp))
            if size != reader.size or crc != reader.crc32c:
                raise IntegrityError(f"{tmp} holds {size} bytes crc32c {crc}, streamed {reader.size} bytes")
            try:
                # link() refuses an existing name: the local equivalent of ifGenerationMatch=0.
                os.link(tmp, final)
            except FileExistsError:
                raise AlreadyExists(self.uri(key)) from None
        finally:
            tmp.unlink(missing_ok=True)
        generation = final.stat().st_mtime_ns
        self._write_attrs(
            key, {"content_type": content_type, "metadata": metadata, "crc32c": reader.crc32c, "generation": generation}
        )
        return StoredObject(key, self.uri(key), reader.size, reader.crc32c, generation, content_type, dict(metadata))

    def _iter_path(self, path: Path) -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(self._chunk_size):
                yield chunk

    def set_metadata(
        self, key: str, generation: int, metadata: dict[str, str], retention: Retention | None = None
    ) -> StoredObject:
        current = self.stat(key)
        if current is None or current.generation != generation:
            raise IntegrityError(f"{self.uri(key)} changed under us")
        until = retention.until if retention is not None else current.retained_until
        return self._rewrite_attrs(replace(current, metadata={**current.metadata, **metadata}, retained_until=until))

    def set_hold(self, key: str, held: bool) -> StoredObject:
        current = self.stat(key)
        if current is None:
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        return self._rewrite_attrs(replace(current, held=held))

    def _rewrite_attrs(self, obj: StoredObject) -> StoredObject:
        """Store everything but the bytes of `obj`, as GCS keeps it beside an object."""
        self._write_attrs(
            obj.key,
            {
                "content_type": obj.content_type,
                "metadata": obj.metadata,
                "crc32c": obj.crc32c,
                "generation": obj.generation,
                "retain_until": obj.retained_until.isoformat() if obj.retained_until else None,
                "temporary_hold": obj.held,
            },
        )
        return obj

    def delete(self, key: str, generation: int) -> None:
        current = self.stat(key)
        if current is None or current.generation != generation:
            return
        if current.retained_until is not None and current.retained_until > datetime.now(UTC):
            # What GCS does for an object under retention, so the local archive behaves the same.
            raise DeleteForbidden(f"{self.uri(key)} is retained until {current.retained_until:%Y-%m-%d %H:%M} UTC")
        if current.held:
            raise DeleteForbidden(f"{self.uri(key)} is under a temporary hold")
        try:
            self._path(key).unlink(missing_ok=True)
        except PermissionError as exc:
            # An immutable file or a read-only directory: the local stand-in for a retention policy.
            raise DeleteForbidden(f"{self.uri(key)}: {exc.strerror}") from None
        self._meta_path(key).unlink(missing_ok=True)


def open_store(archive_uri: str, chunk_size: int) -> Store:
    """`gs://bucket[/prefix]` or an absolute directory, as config.load() normalised it.

    Raises ConfigError when a bucket is named but no Google credentials can be found.
    """
    if archive_uri.startswith("gs://"):
        from google.auth.exceptions import DefaultCredentialsError

        bucket, _, prefix = archive_uri[len("gs://") :].partition("/")
        try:
            return GcsStore(bucket, prefix, chunk_size)
        except DefaultCredentialsError:
            raise ConfigError(
                f"ARCHIVE_URI={archive_uri} needs Google credentials: run `gcloud auth application-default login`, "
                "or set STORAGE_EMULATOR_HOST to use fake-gcs-server"
            ) from None
    return LocalStore(archive_uri, chunk_size)
