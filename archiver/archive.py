"""`Archiver`: the one idempotent routine that archives a recording, from its existing archive or SignalWire's."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from archiver.config import Settings, is_sid
from archiver.deletion import delete_verified
from archiver.errors import DeletionUnrecorded, NotFinal, NotFound, NotThere, TransientError
from archiver.layout import ArchiveKeys
from archiver.logging import get_logger
from archiver.lookup import Look, Lookup, Named
from archiver.manifest import StoredPair, read_agreeing
from archiver.outcome import Outcome, archive_fields
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


@dataclass
class Steps:
    """What `Archiver.archive`'s steps returned so far: the one `Outcome` is built from it, whether they all ran."""

    account_sid: str
    recording: Named
    looks: list[Look] = field(default_factory=list)
    fetched: Recording | None = None
    # Where the audio is written; a write that fails is reported there.
    keys: ArchiveKeys | None = None
    media_host: str | None = None
    written: Written | None = None
    # The last place a look found objects at, or the last look's result: what a failure names.
    found: Look | None = None

    def seen(self, look: Look) -> None:
        """Objects a look found, kept before it repairs or retains anything there, in case that step fails."""
        self.found = look

    def looked(self, look: Look | None) -> None:
        """A look's result kept; an archive found disagreeing ends the run as `corrupt`."""
        if look is not None:
            self.looks.append(look)
            self.found = look
            if look.corrupt is not None:
                raise look.corrupt

    def seen_host(self, host: str) -> None:
        self.media_host = host

    @property
    def archived(self) -> bool:
        """The last look found an agreeing archive."""
        return bool(self.looks) and self.looks[-1].archived

    @property
    def stored_at(self) -> ArchiveKeys | None:
        """Where an agreeing archive is now: written by this run or found by it."""
        if self.written is not None:
            return self.keys
        return self.looks[-1].keys if self.archived else None

    def outcome(self, store: Store) -> Outcome:
        """The outcome these steps came to; `failed` until a step says otherwise."""
        found = dict[str, Any]()
        look = self.looks[-1] if self.looks else None
        if self.written is not None:
            word, found = "archived", _written_fields(self.written)
        elif look is not None and look.pair is not None and look.archived:
            word, found = "already_archived", archive_fields(look.pair)
            found.update(size_verified=look.size_verified, announced_bytes=look.announced)
            found.update(size_verified_now=look.announced is not None or None)
            found.update(retention_completed=look.retention_completed or None)
        else:
            no_audio = self.fetched is not None and self.fetched.status in NO_AUDIO
            word = "no_audio" if no_audio else "failed"
            if self.keys is not None:
                found = {"audio_uri": store.uri(self.keys.audio), "metadata_uri": store.uri(self.keys.manifest)}
            elif self.found is not None:
                found = self.found.fields()
        repaired = next((earlier.repaired for earlier in reversed(self.looks) if earlier.repaired), None)
        return Outcome(
            word,
            recording_sid=self.recording.sid,
            account_sid=self.account_sid,
            api=self.recording.api,
            call_sid=None if self.fetched is None else call_sid_of(self.fetched.data),
            recording_status=None if self.fetched is None else self.fetched.status[:32],
            media_host=self.media_host,
            repaired=repaired,
            repair_incomplete=look.repair_incomplete if look is not None else None,
            **found,
        )


def _written_fields(written: Written) -> dict[str, Any]:
    """What a write stored, as the outcome says it."""
    return {
        **archive_fields(StoredPair(written.audio, written.manifest)),
        "sha256": written.sha256,
        "announced_bytes": written.announced,
        "size_verified": written.announced is not None,
        "audio_format": written.decision.fmt,
        "format_hints_disagree": written.decision.disagreeing() or None,
    }


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

    def check_archived(self, keys: ArchiveKeys) -> StoredPair | None:
        return self.lookup.check_archived(keys)

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
        steps = Steps(self.settings.project_id, Named(sid, api or str((listed or {}).get("api") or Api.LAML)))
        wants_delete = self.settings.delete_after_archive if delete is None else delete
        try:
            candidates = self.lookup.candidates(sid, listed, wants_delete)
            steps.looked(self.lookup.first_archived(candidates, repair, steps.recording, budget, steps.seen))
            if not steps.archived:
                steps.fetched = self.fetch_final(sid, budget, steps.recording.api, vouched=vouched)
                if steps.fetched.status not in NO_AUDIO:
                    keys = self.keys(steps.fetched)
                    # Looked at already when the listing or the recent dates named these same objects.
                    if keys not in candidates:
                        steps.looked(self.lookup.find(keys, repair, steps.recording, budget, steps.seen))
                    if not steps.archived:
                        steps.keys = keys
                        steps.written = self.writer.write(steps.fetched, keys, budget, format_hint, steps.seen_host)
            outcome = steps.outcome(self.store)
            if wants_delete and steps.stored_at is not None and outcome.outcome in ("archived", "already_archived"):
                source = self.sources[outcome.api]
                deleted = delete_verified(
                    self.store, source, self.policy, outcome, steps.stored_at, budget, self.retention()
                )
                outcome = replace(outcome, deletion=deleted)
                if deleted.record_error is not None:
                    # An ERROR line carrying the delete and its evidence: the only proof there will be.
                    outcome = outcome.failed(DeletionUnrecorded(deleted.record_error))
        # SignalWire, integrity, bad dates, and the storage client's own errors alike: one recording's
        # failure is reported, never raised, so a sweep goes on and a callback answers 503.
        except Exception as exc:
            outcome = steps.outcome(self.store).failed(exc)
        return replace(outcome, requests=budget.requests, elapsed_ms=int((time.monotonic() - started) * 1000))
