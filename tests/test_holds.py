"""Legal holds: `python -m archiver hold` on the local archive and on fake-gcs-server, and what verify shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage

from archiver import cli
from archiver.errors import DeleteForbidden, HoldNotConfirmed
from archiver.storage import GcsStore, StoredObject
from archiver.verify import verify
from localspace.space import FakeRecording
from localspace.strictgcs import StrictGcs
from tests.helpers import WINDOW, Harness, audit_lines, blob_name, bucket_of, cli_env, run_archiver

CALL = "0c0ffee0-1ab5-4c4e-8a1e-00000000ca11"


def seeded(harness: Harness) -> dict[str, FakeRecording]:
    """Two recordings of one call on two days, one of another call, one on a later day."""
    space = harness.space
    recs = {
        "call_a": space.add(size=20_000, created=datetime(2026, 11, 3, 23, 59, tzinfo=UTC), call_sid=CALL),
        "call_b": space.add(size=20_000, created=datetime(2026, 11, 4, 0, 1, tzinfo=UTC), call_sid=CALL),
        "other": space.add(size=20_000, created=datetime(2026, 11, 4, 9, tzinfo=UTC)),
        "later": space.add(size=20_000, created=datetime(2026, 11, 20, 9, tzinfo=UTC)),
    }
    for rec in recs.values():
        assert harness.archiver.archive(rec.sid).outcome == "archived"
    return recs


def pair(harness: Harness, rec: FakeRecording) -> tuple[StoredObject, StoredObject]:
    audio_key, meta_key = harness.archiver.keys_of(rec.sid, rec.metadata())
    audio, manifest = harness.store.stat(audio_key), harness.store.stat(meta_key)
    assert audio is not None and manifest is not None
    return audio, manifest


def held(harness: Harness, rec: FakeRecording) -> tuple[bool, bool]:
    audio, manifest = pair(harness, rec)
    return audio.held, manifest.held


def test_hold_a_call_in_a_real_process_then_release_it_on_the_local_archive(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(local=True)
    recs = seeded(harness)
    capsys.readouterr()
    done = run_archiver(harness, "hold", "--call", CALL.upper(), "--reason", "matter 42")
    assert done.returncode == 0, done.stderr
    assert "2 recording(s) matched; 4 object(s) held" in done.stdout
    lines = audit_lines(done.stdout)
    per_object = [line for line in lines if line["outcome"] == "held"]
    assert len(per_object) == 4 and all(line["reason"] == "matter 42" for line in per_object)
    assert {line["recording_sid"] for line in per_object} == {recs["call_a"].sid, recs["call_b"].sid}
    (summary,) = [line for line in lines if line["outcome"] == "hold_summary"]
    assert (summary["recordings"], summary["changed"], summary["failures"]) == (2, 4, 0)
    assert held(harness, recs["call_a"]) == held(harness, recs["call_b"]) == (True, True)
    assert held(harness, recs["other"]) == (False, False)

    # A held object can be neither deleted nor replaced, with or without retention.
    audio, _ = pair(harness, recs["call_a"])
    with pytest.raises(DeleteForbidden, match="temporary hold"):
        harness.store.delete(audio.key, audio.generation)
    rows = {row["recording_sid"]: row for row in verify(harness.archiver, *WINDOW, read_bytes=False)}
    assert {sid for sid, row in rows.items() if row["held"] is True} == {recs["call_a"].sid, recs["call_b"].sid}
    assert rows[recs["other"].sid]["held"] is False

    # A second hold changes nothing and says so; a release clears exactly what was held.
    cli_env(monkeypatch, harness)
    cli.main(["verify", "--since", "2026-11-01", "--until", "2026-11-30", "--metadata-only"])
    assert "  under legal hold: 2\n" in capsys.readouterr().out
    assert cli.main(["hold", "--call", CALL]) == 0
    assert "0 object(s) held, 4 already held" in capsys.readouterr().out
    assert cli.main(["hold", "--call", CALL, "--release"]) == 0
    out = capsys.readouterr().out
    assert "4 object(s) released" in out
    assert len([line for line in audit_lines(out) if line["outcome"] == "released"]) == 4
    assert held(harness, recs["call_a"]) == (False, False)
    harness.store.delete(audio.key, audio.generation)
    assert harness.store.stat(audio.key) is None


def test_hold_by_recording_and_by_window(
    make_harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(local=True)
    recs = seeded(harness)
    cli_env(monkeypatch, harness)
    # One recording, found anywhere in the archive without a date.
    assert cli.main(["hold", "--recording", recs["later"].sid]) == 0
    assert held(harness, recs["later"]) == (True, True)
    assert held(harness, recs["other"]) == (False, False)
    # A window in date-times: 2026-11-04 00:00 up to 09:00 catches call_b only, not call_a (the day before)
    # nor other (at 09:00, the window's exclusive end).
    assert cli.main(["hold", "--since", "2026-11-04T00:00:00", "--until", "2026-11-04T09:00:00"]) == 0
    assert [name for name, rec in recs.items() if held(harness, rec)[0]] == ["call_b", "later"]
    capsys.readouterr()


def test_hold_refuses_a_selection_that_is_no_sid_or_matches_nothing(
    harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(monkeypatch, harness)
    assert cli.main(["hold"]) == 2
    assert "say what to hold" in capsys.readouterr().err
    assert cli.main(["hold", "--call", "../../etc"]) == 2
    assert "not a SID" in capsys.readouterr().err
    assert cli.main(["hold", "--call", CALL, "--reason", "x" * 501]) == 2
    assert "at most 500 characters" in capsys.readouterr().err
    # Nothing archived: a legal hold that caught nothing must not look like success.
    assert cli.main(["hold", "--call", CALL]) == 1
    assert "nothing matched" in capsys.readouterr().out


def test_on_gcs_a_hold_is_set_enforced_and_released(
    harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the strict proxy, which keeps and enforces temporaryHold as GCS does (fake-gcs-server drops it)."""
    recs = seeded(harness)
    cli_env(monkeypatch, harness)
    capsys.readouterr()
    assert cli.main(["hold", "--recording", recs["other"].sid]) == 0
    assert "2 object(s) held" in capsys.readouterr().out
    assert held(harness, recs["other"]) == (True, True)
    audio, _ = pair(harness, recs["other"])
    with pytest.raises(DeleteForbidden):
        harness.store.delete(audio.key, audio.generation)
    assert cli.main(["hold", "--recording", recs["other"].sid, "--release"]) == 0
    assert "2 object(s) released" in capsys.readouterr().out
    assert held(harness, recs["other"]) == (False, False)


def test_an_answer_that_does_not_show_the_hold_is_a_failure_not_a_hold(
    harness: Harness, strict_gcs: StrictGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fake-gcs-server itself accepts the PATCH and answers without the hold: never taken as held."""
    recs = seeded(harness)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", strict_gcs.upstream)
    bare = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket, _, prefix = harness.settings.archive_uri.removeprefix("gs://").partition("/")
    lenient = GcsStore(bucket, prefix, harness.settings.chunk_size, client=bare)
    audio, _ = pair(harness, recs["other"])
    with pytest.raises(HoldNotConfirmed):
        lenient.set_hold(audio.key, True)


def test_the_hold_request_is_the_patch_gcs_documents(harness: Harness) -> None:
    """What GcsStore sends, recorded on its way to fake-gcs-server (nothing is changed): a PATCH of the
    object with `temporaryHold`, the JSON API's field for it. Whether GCS then holds the object only a
    real bucket shows."""
    recs = seeded(harness)
    sent: list[tuple[str, str, Any]] = []
    session = AuthorizedSession(AnonymousCredentials())
    session.hooks["response"].append(
        lambda answer, **_: sent.append((answer.request.method, answer.request.url, answer.request.body))
    )
    # The store under test, on a client whose HTTP session (the constructor's `_http`) records each request.
    client = storage.Client(project="test", credentials=AnonymousCredentials(), _http=session)
    store = GcsStore(bucket_of(harness).name, "calls", harness.settings.chunk_size, client=client)
    audio, _ = pair(harness, recs["other"])
    for held_now in (True, False):
        sent.clear()
        try:
            store.set_hold(audio.key, held_now)
        except HoldNotConfirmed:
            assert held_now  # fake-gcs-server answers without the hold; a release it cannot contradict
        ((method, url, body),) = sent
        assert method == "PATCH" and url.split("?")[0].endswith("/o/" + quote(blob_name(harness, audio.key), safe=""))
        assert json.loads(body) == {"temporaryHold": held_now}
