"""Object retention: what verified objects get, and completing it on an archive verified before it was set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from archiver.config import Settings
from archiver.layout import ArchiveKeys
from archiver.manifest import AUDIO_GENERATION, StoredPair, read_agreeing
from archiver.storage import Retention, Store, StoredObject


def retention_for(settings: Settings) -> Retention | None:
    """The retention verified objects get (OBJECT_RETENTION_DAYS), or None when it is off."""
    days = settings.object_retention_days
    if not days:
        return None
    return Retention(settings.object_retention_mode, datetime.now(UTC) + timedelta(days=days))


def retain(store: Store, obj: StoredObject, retention: Retention | None) -> StoredObject:
    """`obj` under `retention`; one already retained keeps its own (retention only ever grows), None leaves it."""
    if retention is None or obj.retained_until is not None:
        return obj
    return store.set_metadata(obj.key, obj.generation, obj.metadata, retention)


def complete_retention(store: Store, keys: ArchiveKeys, retention: Retention) -> StoredPair:
    """Set `retention` on an agreeing archive verified before it was set (a crash, or retention switched on later)."""
    audio, manifest = read_agreeing(store, keys)
    # audio.key, not keys.audio: the manifest may name the audio under another extension.
    audio = retain(store, audio, retention)
    # A metadata patch may give the audio a new generation (fake-gcs-server does): the manifest follows it.
    recorded = {**manifest.metadata, AUDIO_GENERATION: str(audio.generation)}
    return StoredPair(audio, store.set_metadata(manifest.key, manifest.generation, recorded, retention))
