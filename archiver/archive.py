"""`Archiver`: the one idempotent routine that archives a recording, from its existing archive or SignalWire's."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from archiver.config import Settings, is_sid
from archiver.deletion import delete_verified
from archiver.errors import NotFinal, NotFound, NotThere, TransientError
from archiver.layout import ArchiveKeys
from archiver.logging import get_logger
from archiver.lookup import Lookup
from archiver.manifest import StoredPair, read_agreeing
from archiver.outcome import Outcome
from archiver.recordings import FINAL_WITH_AUDIO, KNOWN_STATUSES, NO_AUDIO, Api, Recording
from archiver.retention import retention_for
from archiver.signalwire import Budget, RecordingSource, RetryPolicy
from archiver.storage import Retention, Store
from archiver.writer import Writer, Written

# How long a callback waits for a recording SignalWire still reports as not final.
FINAL_WAIT_S = 10.0
# A 404 for a recording nobody vouched for (only a CALLBACK_TOKEN named it): asked this many times, not the budget.
UNVOUCHED_404_TRIES = 2


def call_sid_of(data: Mapping[str, Any]) -> str | None:
    """A recording's call SID, when it is one: a field of any size would break an audit line, not the call."""
    call_sid = str(data.get("call_sid") or "")
    return call_sid.lower() if is_sid(call_sid) else None


class Archiver:
    """Archives recordings by SID into a store; safe to call any number of times, concurrently.

    `sources` holds one RecordingSource per SignalWire API, by `Api`. Finding an
    existing archive is `lookup`'s job, writing one `writer`'s, deleting SignalWire's copy `deletion`'s.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sources: Mapping[str, RecordingSource],
        policy: RetryPolicy,
        final_wait_s: float = FINAL_WAIT_S,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sources = dict(sources)
        self.policy = policy
        self.final_wait_s = final_wait_s
        self.lookup = Lookup(settings, store, self.sources)
        self.writer = Writer(settings, store, self.sources, policy)

    def keys(self, recording: Recording) -> ArchiveKeys:
        return self.lookup.keys_of(recording.sid, recording.data)

    def keys_of(self, sid: str, listed: Mapping[str, Any]) -> ArchiveKeys:
        return self.lookup.keys_of(sid, listed)

    def check_archived(self, outcome: Outcome, keys: ArchiveKeys) -> bool:
        return self.lookup.check_archived(outcome, keys)

    def evidence(self, audio_key: str, meta_key: str) -> StoredPair:
        """Both objects, read now, agreeing with each other; Corrupt naming the first disagreement."""
        return read_agreeing(self.store, ArchiveKeys(audio_key, meta_key))

    def retention(self) -> Retention | None:
        return retention_for(self.settings)

    def fetch_final(self, sid: str, budget: Budget, api: str = Api.LAML, *, vouched: bool = True) -> Recording:
        """Metadata once the recording is final; waits `final_wait_s` at most for it to become final.

        A 404 is waited out for the whole budget when SignalWire vouched for the recording (a signed
        callback may arrive before the recording is ready); otherwise it is asked once more, then NotThere.
        """
        final_deadline = time.monotonic() + self.final_wait_s
        source = self.sources[api]
        warned: set[str] = set()
        missing = 0

        def fetch() -> Recording:
            nonlocal missing
            try:
                recording = source.recording(sid, budget)
            except NotFound as exc:
                missing += 1
                if not vouched and missing >= UNVOUCHED_404_TRIES:
                    raise NotThere(
                        f"{exc} ({missing} times); only a CALLBACK_TOKEN named it, so not waited for"
                    ) from None
                raise
            if recording.status not in KNOWN_STATUSES and recording.status not in warned:
                # Read as not final (nothing is archived on a guess), but never silently.
                warned.add(recording.status)
                get_logger().warning(
                    "SignalWire reports an unknown recording status",
                    status_word=recording.status[:32],
                    api=api,
                    recording_sid=sid,
                )
            if recording.status not in FINAL_WITH_AUDIO | NO_AUDIO:
                message = f"recording {sid} is {recording.status[:32] or 'without status'}, not final yet"
                if time.monotonic() >= final_deadline:
                    raise NotFinal(message)
                raise TransientError(message)
            return recording

        return self.policy.run(fetch, budget_s=budget.remaining())

    def archive(
        self,
        sid: str,
        listed: dict[str, Any] | None = None,
        *,
        api: str | None = None,
        delete: bool | None = None,
        repair: bool = False,
        format_hint: str | None = None,
        vouched: bool = True,
    ) -> Outcome:
        """Archive one recording; never raises for a recording-level failure, returns `failed` or `corrupt`.

        `listed` is the recording as a list page showed it: when its date names objects that are
        already complete, SignalWire is not asked anything. `api` names the SignalWire API the recording
        belongs to (default: the listing's, else LaML). `delete` defaults to DELETE_AFTER_ARCHIVE.
        `repair` replaces an archive that disagrees with its manifest instead of only reporting it.
        `format_hint` is the format a callback named; the audio's own bytes decide, the hint is recorded.
        `vouched` is False for a recording only a CALLBACK_TOKEN named (see `fetch_final`).
        """
        started = time.monotonic()
        budget = Budget(started + self.settings.retry_budget_s)
        api = api or str((listed or {}).get("api") or Api.LAML)
        outcome = Outcome("failed", recording_sid=sid, account_sid=self.settings.project_id, api=api)
        wants_delete = self.settings.delete_after_archive if delete is None else delete
        try:
            candidates = self.lookup.candidates(sid, listed, wants_delete)
            keys = self.lookup.first_archived(outcome, candidates, repair, budget)
            if keys is None:
                recording = self.fetch_final(sid, budget, api, vouched=vouched)
                outcome.call_sid = call_sid_of(recording.data)
                outcome.recording_status = recording.status[:32]
                if recording.status in NO_AUDIO:
                    outcome.outcome = "no_audio"
                else:
                    keys = self.keys(recording)
                    # Looked at already when the listing or the recent dates named these same objects.
                    if keys in candidates or not self.lookup.look(outcome, keys, repair, budget):
                        outcome.metadata_uri = self.store.uri(keys.manifest)

                        def seen_host(host: str) -> None:
                            outcome.media_host = host

                        _archived(outcome, self.writer.write(recording, keys, budget, format_hint, seen_host))
                    else:
                        self.lookup.complete_retention(outcome, keys)
            if wants_delete and keys is not None and outcome.outcome in ("archived", "already_archived"):
                source = self.sources[outcome.api]
                outcome.deletion = delete_verified(
                    self.store, source, self.policy, outcome, keys, budget, self.retention()
                )
        # SignalWire, integrity, bad dates, and the storage client's own errors alike: one recording's
        # failure is reported, never raised, so a sweep goes on and a callback answers 503.
        except Exception as exc:
            outcome.fail(exc)
        outcome.requests = budget.requests
        outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
        return outcome


def _archived(outcome: Outcome, written: Written) -> None:
    """What a write stored, as the outcome says it."""
    outcome.audio_uri = written.audio.uri
    outcome.describe(written.audio)
    outcome.sha256 = written.sha256
    outcome.announced_bytes = written.announced
    outcome.size_verified = written.announced is not None
    outcome.audio_format = written.decision.fmt
    outcome.format_hints_disagree = written.decision.disagreeing() or None
    outcome.retained_until = StoredPair(written.audio, written.manifest).retained_until()
    outcome.outcome = "archived"
