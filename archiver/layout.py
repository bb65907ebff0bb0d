"""Where a recording's objects live in the bucket: its day prefix and its audio and manifest keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import NamedTuple

# The manifest's extension: `{sid}.json` beside the audio `{sid}.{format}`.
MANIFEST_EXT = "json"


class ArchiveKeys(NamedTuple):
    """A recording's two object keys: the audio, and the manifest whose presence means it is complete."""

    audio: str
    manifest: str

    def audio_as(self, fmt: str) -> str:
        """The audio key under the extension another format gives."""
        return audio_key_of(self.manifest, fmt)


def day_prefix(account_sid: str, created: datetime) -> str:
    """Where a day's recordings live: one listing of this prefix shows all of them."""
    return f"{account_sid}/{created:%Y/%m/%d}/"


def day_prefixes(account_sid: str, since: datetime, until: datetime) -> Iterator[str]:
    """The day prefixes a window can hold recordings on, in order: `since`'s day to the day of its last instant.

    A window never holds `until` itself, so one ending at midnight ends on the day before.
    """
    day, last = since.date(), (until - timedelta(microseconds=1)).date()
    while day <= last:
        yield day_prefix(account_sid, datetime(day.year, day.month, day.day))
        day += timedelta(days=1)


def keys_for(account_sid: str, recording_sid: str, created: datetime, fmt: str) -> ArchiveKeys:
    """Deterministic names, so every retry lands on the same objects."""
    base = day_prefix(account_sid, created) + recording_sid
    return ArchiveKeys(f"{base}.{fmt}", f"{base}.{MANIFEST_EXT}")


def audio_key_of(meta_key: str, fmt: str) -> str:
    """The audio object beside a manifest, under the extension its format gives."""
    return f"{meta_key.removesuffix('.' + MANIFEST_EXT)}.{fmt}"
