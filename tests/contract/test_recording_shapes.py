"""Every recording resource the stand-in serves (one by one and as list rows), checked against the spec's fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from localspace.space import MEDIA_PLACES, FakeRecording, Space
from tests.contract.spec import LAML_RECORDING, RELAY_DOWNLOAD, RELAY_RECORDING, violations
from tests.helpers import TOKEN


def get(space: Space, path: str, **params: Any) -> Any:
    response = requests.get(f"{space.url}{path}", params=params, auth=(space.project_id, TOKEN), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def variety(space: Space) -> list[FakeRecording]:
    """Recordings of every kind the stand-in can make: each status, format, media place, with and without a call."""
    made = [space.add(size=2_000, status=status) for status in ("completed", "stopped", "absent", "in-progress")]
    made += [space.add(size=2_000, call_sid=None), space.add(content=b"ID3\x04" + bytes(60))]
    made += [space.add(size=2_000, created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))]
    made += [space.add(size=2_000, api="relay", fmt=fmt) for fmt in ("wav", "mp3", "mp4")]
    made += [space.add(size=2_000, api="relay", media_place=place) for place in MEDIA_PLACES]
    made += [space.add(size=2_000, api="relay", status="failed", byte_size=None)]
    return made


def test_every_laml_recording_matches_the_recording_model(space: Space) -> None:
    """compatibility-api/recordings/models/core.tsp: the 21 fields, their types, enumerations, RFC 2822 dates."""
    for recording in variety(space):
        if recording.api != "laml":
            continue
        base = f"/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings"
        document = get(space, f"{base}/{recording.sid}.json")
        assert violations(document, LAML_RECORDING, closed=True) == [], recording
        # The same shape in the list (its paging is the listing's own contract, tests/contract/test_list_pages.py).
        rows = {row["sid"]: row for row in get(space, f"{base}.json", PageSize=1000)["recordings"]}
        assert violations(rows[recording.sid], LAML_RECORDING, closed=True) == []


def test_every_relay_recording_matches_the_recording_model(space: Space) -> None:
    """relay-rest/recordings/models/core.tsp: RecordingBase and a PSTN leg, byte_size and error_code optional."""
    relay = [r for r in variety(space) if r.api == "relay"]
    rows = {row["id"]: row for row in get(space, "/api/relay/rest/recordings", page_size=1000)["data"]}
    for recording in relay:
        for document in (get(space, f"/api/relay/rest/recordings/{recording.sid}"), rows[recording.sid]):
            assert violations(document, RELAY_RECORDING, closed=True) == [], recording


@pytest.mark.parametrize("place", MEDIA_PLACES)
def test_relay_urls_are_where_the_docs_put_them(space: Space, place: str) -> None:
    """The documented URL is the space's extension-less download path; the other places are the spec's own
    latitude (`url: string`, example `https://example.com/recording.mp3`, relay-rest core.tsp 48-50)."""
    recording = space.add(size=2_000, api="relay", fmt="mp3", media_place=place)
    url = get(space, f"/api/relay/rest/recordings/{recording.sid}")["url"]
    if place in ("space", "listed", "relative"):
        match = RELAY_DOWNLOAD.search(url)
        assert match is not None and match["id"] == recording.sid and url.endswith("/download")
        assert url.startswith({"space": space.url, "listed": space.other_host_url, "relative": "/"}[place])
    else:
        assert url.startswith(space.other_host_url) and "Signature" in url
