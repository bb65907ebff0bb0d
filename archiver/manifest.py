"""The manifest's description of its audio, and the stored audio+manifest pair: read, grouped, checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from archiver import __version__
from archiver.audioformat import CONTENT_TYPES, FormatDecision
from archiver.errors import Corrupt
from archiver.layout import MANIFEST_EXT, ArchiveKeys
from archiver.storage import Store, StoredObject

# The manifest's metadata keys; every key describing the audio starts with AUDIO_PREFIX.
AUDIO_PREFIX = "audio-"
RECORDING_SID = "recording-sid"
AUDIO_OBJECT = "audio-object"
AUDIO_GENERATION = "audio-generation"
AUDIO_BYTES = "audio-bytes"
AUDIO_SIZE_VERIFIED = "audio-size-verified"
AUDIO_CRC32C = "audio-crc32c"
AUDIO_SHA256 = "audio-sha256"
AUDIO_FORMAT = "audio-format"
AUDIO_FORMAT_FROM = "audio-format-from"
AUDIO_FORMAT_HINTS = "audio-format-hints"
ARCHIVER_VERSION = "archiver-version"


@dataclass(frozen=True)
class Manifest:
    """What a manifest records about its audio; the format fields are empty on manifests older than formats."""

    recording_sid: str
    audio_object: str
    audio_generation: str
    audio_bytes: str
    audio_size_verified: bool
    audio_crc32c: str
    audio_sha256: str
    audio_format: str = ""
    audio_format_from: str = ""
    audio_format_hints: str = ""

    @classmethod
    def of(cls, recording_sid: str, audio: StoredObject, size_verified: bool, decision: FormatDecision) -> Manifest:
        """The manifest of `audio` as just written and verified."""
        return cls(
            recording_sid=recording_sid,
            audio_object=audio.uri,
            audio_generation=str(audio.generation),
            audio_bytes=str(audio.size),
            audio_size_verified=size_verified,
            audio_crc32c=audio.crc32c,
            audio_sha256=audio.metadata.get("sha256", ""),
            audio_format=decision.fmt,
            audio_format_from=f"bytes: {decision.evidence}",
            audio_format_hints=decision.hints_text(),
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Manifest:
        return cls(
            recording_sid=metadata.get(RECORDING_SID, ""),
            audio_object=metadata.get(AUDIO_OBJECT, ""),
            audio_generation=metadata.get(AUDIO_GENERATION, ""),
            audio_bytes=metadata.get(AUDIO_BYTES, ""),
            audio_size_verified=metadata.get(AUDIO_SIZE_VERIFIED) == "true",
            audio_crc32c=metadata.get(AUDIO_CRC32C, ""),
            audio_sha256=metadata.get(AUDIO_SHA256, ""),
            audio_format=metadata.get(AUDIO_FORMAT, ""),
            audio_format_from=metadata.get(AUDIO_FORMAT_FROM, ""),
            audio_format_hints=metadata.get(AUDIO_FORMAT_HINTS, ""),
        )

    def to_metadata(self) -> dict[str, str]:
        """The object metadata to write; empty format fields are left out, as manifests before formats had none."""
        formats = {AUDIO_FORMAT: self.audio_format, AUDIO_FORMAT_FROM: self.audio_format_from}
        formats[AUDIO_FORMAT_HINTS] = self.audio_format_hints
        return {
            **{key: value for key, value in formats.items() if value},
            RECORDING_SID: self.recording_sid,
            AUDIO_OBJECT: self.audio_object,
            AUDIO_GENERATION: self.audio_generation,
            AUDIO_BYTES: self.audio_bytes,
            AUDIO_SIZE_VERIFIED: "true" if self.audio_size_verified else "false",
            AUDIO_CRC32C: self.audio_crc32c,
            AUDIO_SHA256: self.audio_sha256,
            ARCHIVER_VERSION: __version__,
        }


def check_agreement(audio: StoredObject, manifest: StoredObject) -> None:
    """The audio object is the one the manifest recorded: size, CRC32C and SHA-256."""
    recorded = manifest.metadata
    # The generation is recorded as evidence but not compared: a metadata patch may change it (it does on
    # fake-gcs-server), and bytes rewritten under a new generation change the CRC32C, which GCS computes.
    checks = {
        "size": (str(audio.size), recorded.get(AUDIO_BYTES)),
        "crc32c": (audio.crc32c, recorded.get(AUDIO_CRC32C)),
        "sha256": (audio.metadata.get("sha256"), recorded.get(AUDIO_SHA256)),
    }
    for name, (stored, expected) in checks.items():
        if not stored or stored != expected:
            raise Corrupt(f"{audio.uri}: stored {name} {stored!r}, recorded {expected!r}")


def retained_until(*objects: StoredObject) -> str | None:
    """When the first of these objects stops being retained; None when any of them is not retained."""
    ends = [obj.retained_until for obj in objects]
    return min(end for end in ends if end is not None).isoformat() if ends and None not in ends else None


class StoredPair(NamedTuple):
    """A recording's audio object and the manifest that names it, as stored."""

    audio: StoredObject
    manifest: StoredObject

    @property
    def recorded(self) -> Manifest:
        return Manifest.from_metadata(self.manifest.metadata)

    @property
    def fmt(self) -> str:
        """The audio object's extension."""
        return self.audio.key.rpartition(".")[2]

    def check(self) -> None:
        """Corrupt naming the first way the audio disagrees with its manifest."""
        check_agreement(self.audio, self.manifest)

    def retained_until(self) -> str | None:
        return retained_until(self.audio, self.manifest)


class AudioMissing(Corrupt):
    """A manifest names an audio object that is not there."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri} is missing, though its manifest records it as archived")
        self.uri = uri


def named_format(manifest: StoredObject, uri_of: Callable[[str], str | None]) -> str | None:
    """The format whose audio object (`uri_of(format)`, None when there is none) the manifest names."""
    named = manifest.metadata.get(AUDIO_OBJECT)
    return next((fmt for fmt in CONTENT_TYPES if (uri := uri_of(fmt)) is not None and uri == named), None)


def by_recording(objects: Iterable[StoredObject]) -> Iterator[tuple[str, dict[str, StoredObject]]]:
    """A listing's objects by recording: (key without extension, {extension: object}).

    A recording's objects, `{sid}.json` and its audio under whichever extension, are adjacent in key
    order, so one recording's are held at a time.
    """
    base, group = "", dict[str, StoredObject]()
    for obj in objects:
        folder, slash, name = obj.key.rpartition("/")
        stem, _, ext = name.partition(".")
        if folder + slash + stem != base:
            if group:
                yield base, group
            base, group = folder + slash + stem, {}
        group[ext] = obj
    if group:
        yield base, group


def audio_in(group: Mapping[str, StoredObject]) -> StoredObject | None:
    """A listed recording's audio: the object its manifest names; without a manifest, any audio object."""
    manifest = group.get(MANIFEST_EXT)
    if manifest is None:
        return next((obj for ext, obj in group.items() if ext in CONTENT_TYPES), None)
    fmt = named_format(manifest, lambda ext: group[ext].uri if ext in group else None)
    return None if fmt is None else group[fmt]


def pair_in(group: Mapping[str, StoredObject]) -> StoredPair | None:
    """A listed recording's complete pair: its manifest and the audio object the manifest names."""
    manifest = group.get(MANIFEST_EXT)
    audio = audio_in(group) if manifest is not None else None
    return None if manifest is None or audio is None else StoredPair(audio, manifest)


def recorded_audio_key(store: Store, keys: ArchiveKeys, manifest: StoredObject) -> str:
    """The audio key a manifest names, when it is this recording's under another extension.

    A recording both APIs list (or a RELAY recording looked up before its format is known) is then
    found archived once, whichever API archived it, instead of looking half-archived.
    """
    fmt = named_format(manifest, lambda ext: store.uri(keys.audio_as(ext)))
    return keys.audio if fmt is None else keys.audio_as(fmt)


def read_pair(store: Store, keys: ArchiveKeys) -> StoredPair | None:
    """Both objects, read now: None without a manifest, AudioMissing without the audio it names."""
    manifest = store.stat(keys.manifest)
    if manifest is None:
        return None
    audio_key = recorded_audio_key(store, keys, manifest)
    audio = store.stat(audio_key)
    if audio is None:
        raise AudioMissing(store.uri(audio_key))
    return StoredPair(audio, manifest)


def read_agreeing(store: Store, keys: ArchiveKeys) -> StoredPair:
    """Both objects, read now, agreeing with each other; Corrupt naming the first disagreement."""
    pair = read_pair(store, keys)
    if pair is None:
        raise Corrupt(f"{store.uri(keys.manifest)} is missing")
    pair.check()
    return pair
