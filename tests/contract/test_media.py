"""The media the stand-in serves: where the docs put it, who may fetch it, and bodies that are what they claim."""

from __future__ import annotations

import pytest
import requests

from localspace.recording import WAV_PER_MP3
from localspace.space import MEDIA_TYPES, Space
from tests.helpers import TOKEN


def container_of(body: bytes) -> str | None:
    """The container the first bytes name, from the formats' own definitions, not the archiver's sniffer (a bug
    there must not hide one here): RIFF....WAVE (RIFF/WAVE), an ID3v2 tag or an MPEG frame sync of 11 set bits
    (MP3), ....ftyp (ISO/IEC 14496-12 box header, MP4)."""
    if body[:4] == b"RIFF" and body[8:12] == b"WAVE":
        return "wav"
    if body[:3] == b"ID3" or (len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0):
        return "mp3"
    return "mp4" if body[4:8] == b"ftyp" else None


def fetch(url: str, auth: tuple[str, str] | None = None) -> requests.Response:
    response = requests.get(url, auth=auth, timeout=10, allow_redirects=False)
    response.close()
    return response


@pytest.mark.parametrize(("suffix", "fmt"), [("", "wav"), (".wav", "wav"), (".mp3", "mp3")])
def test_laml_media_needs_no_credentials_and_the_extension_picks_the_format(
    space: Space, suffix: str, fmt: str
) -> None:
    """compatibility-api/recordings/main.tsp 83-102: public access; no extension or .wav is WAV, .mp3 is MP3."""
    recording = space.add(size=5_000)
    base = f"{space.url}/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings/{recording.sid}"
    response = requests.get(base + suffix, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MEDIA_TYPES[fmt]
    # One recording, two encodings: WAV is PCM, several times the MP3's size (the spec states no sizes).
    expected = recording.size if fmt == "mp3" else recording.size * WAV_PER_MP3
    assert int(response.headers["Content-Length"]) == len(response.content) == expected
    assert container_of(response.content[:16]) == fmt


@pytest.mark.parametrize("fmt", ["wav", "mp3", "mp4"])
def test_relay_media_at_the_documented_download_path(space: Space, fmt: str) -> None:
    """swml record_call.mdx 188 / record.mdx 210: /api/v1/recordings/{id}/download, no extension. Whether it needs
    credentials is not documented; the stand-in plays a space with "Protect Recording Media URLs" on."""
    recording = space.add(size=5_000, api="relay", fmt=fmt)
    url = f"{space.url}/api/v1/recordings/{recording.sid}/download"
    assert fetch(url).status_code == 401
    response = requests.get(url, auth=(space.project_id, TOKEN), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MEDIA_TYPES[fmt]
    assert container_of(response.content[:16]) == fmt
    assert response.content == recording.audio()


@pytest.mark.parametrize("content_type", ["application/octet-stream", "binary/octet-stream", "video/mp4", ""])
def test_the_content_type_switch(space: Space, content_type: str) -> None:
    recording = space.add(size=5_000, api="relay", fmt="mp4", content_type=content_type)
    response = requests.get(
        f"{space.url}/api/v1/recordings/{recording.sid}/download", auth=(space.project_id, TOKEN), timeout=10
    )
    assert response.headers.get("Content-Type", "") == content_type
    assert response.content == recording.audio()


def test_a_presigned_store_refuses_a_request_with_credentials(space: Space) -> None:
    """As S3 answers a presigned URL that also carries an Authorization header: 400, InvalidArgument."""
    recording = space.add(size=5_000, api="relay", media_place="presigned")
    url = recording.media_url(space.url, space.other_host_url)
    refused = fetch(url, auth=(space.project_id, TOKEN))
    assert refused.status_code == 400 and b"Only one auth mechanism allowed" in refused.content
    assert requests.get(url, timeout=10).content == recording.audio()


def test_unknown_status_words_are_served_as_they_are(space: Space) -> None:
    """A status outside the LaML enumeration (core.tsp 29-37) is an off-contract switch: the stand-in serves the
    word as given, and no audio for it, so the archiver's handling of unknown words can be played."""
    recording = space.add(size=5_000, status="sealed")
    base = f"{space.url}/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings/{recording.sid}"
    assert requests.get(f"{base}.json", auth=(space.project_id, TOKEN), timeout=10).json()["status"] == "sealed"
    assert fetch(f"{base}.mp3").status_code == 404
