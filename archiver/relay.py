"""Recordings through the RELAY REST API (SWML `record_call`, Calling API `calling.record`).

What the docs leave open is read both ways: a status of `completed` or `finished` means audio, the
audio's format is the extension its `url` names, and a listing without a date filter is read whole
and judged row by row by the sweep (archiver.listing).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.config import Settings, is_sid
from archiver.errors import SignalWireError
from archiver.signalwire import (
    METADATA_MAX_BYTES,
    Budget,
    ListPage,
    MediaStream,
    Recording,
    RetryPolicy,
    SpaceHttp,
)

PATH = "/api/relay/rest/recordings"
# record_call's default format, for a URL that names none.
DEFAULT_FORMAT = "wav"
_FORMATS = ("mp3", "wav", "mp4")
_WITH_AUDIO = frozenset({"completed", "finished"})
_WITHOUT_AUDIO = frozenset({"failed", "error", "no_input", "absent"})


def media_format(url: Any) -> str:
    """`mp3`, `wav` or `mp4`, as the media URL's extension says; record_call's default when it says none."""
    try:
        path = urlsplit(url).path.lower() if isinstance(url, str) else ""
    except ValueError:
        path = ""
    return next((fmt for fmt in _FORMATS if path.endswith(f".{fmt}")), DEFAULT_FORMAT)


def as_row(data: dict[str, Any]) -> dict[str, Any]:
    """A RELAY recording read like a LaML one (`sid`, `status`, `date_created`, `duration`), plus `api` and `format`.

    Its own status is kept as `relay_status`; the stored metadata stays the bytes SignalWire sent.
    """
    status = str(data.get("status") or "").lower()
    if status in _WITH_AUDIO:
        status = "completed"
    elif status in _WITHOUT_AUDIO:
        status = "failed"
    return {
        **data,
        "sid": str(data.get("id") or ""),
        "status": status,
        "relay_status": data.get("status"),
        "date_created": data.get("created_at"),
        "duration": data.get("duration_in_seconds"),
        "api": RelaySource.name,
        "format": media_format(data.get("url")),
    }


class RelaySource:
    """`GET/DELETE /api/relay/rest/recordings/{id}` and the listing; audio only from the space's own host."""

    name = "relay"
    size_from = "byte_size"
    # The docs state no order for this list (signalwire/docs relay-rest/recordings/main.tsp).
    newest_first = False

    def __init__(self, http: SpaceHttp, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self._base = settings.space_url + PATH

    def recording(self, sid: str, budget: Budget) -> Recording:
        """GET …/recordings/{id} once; the caller decides about retries."""
        if not is_sid(sid):
            raise SignalWireError(f"not a recording id: {sid[:64]!r}")
        what = f"RELAY recording {sid} metadata"
        raw, data = self._http.json("GET", f"{self._base}/{sid}", budget, what, METADATA_MAX_BYTES)
        if str(data.get("id", "")).lower() != sid.lower():
            raise SignalWireError(f"{what}: response is for another recording ({str(data.get('id'))[:64]!r})")
        project = str(data.get("project_id") or self._settings.project_id).lower()
        if project != self._settings.project_id:
            raise SignalWireError(f"{what}: recording belongs to another project")
        return Recording(raw=raw, data=as_row(data))

    def open_media(self, recording: Recording, budget: Budget) -> MediaStream:
        """The audio from the metadata's `url`, only when that URL is on the configured space."""
        url = recording.data.get("url")
        what = f"RELAY recording {recording.sid} audio"
        if not isinstance(url, str) or not url or not self._http.on_space(url):
            # Our credentials go with every request: a URL elsewhere is never asked.
            shown = url[:120] if isinstance(url, str) else None
            raise SignalWireError(f"{what}: media URL {shown!r} is not on the configured space; refused")
        return self._http.open_media(url, budget, what)

    def media_size(self, sid: str, budget: Budget) -> int | None:
        """`byte_size` from the metadata, read now; None when SignalWire does not say."""
        try:
            return self.recording(sid, budget).announced_bytes
        except SignalWireError:
            return None

    def recording_pages(
        self, since: datetime, until: datetime, policy: RetryPolicy, page_size: int = 1000, start: str | None = None
    ) -> Generator[ListPage]:
        """Every recording, a page at a time, following `links.next` within the space; from `start` when it
        is a next link. No date filter and no order are documented for this list: the caller judges each
        row against (since, until). `page_size` is not documented either: refused (422), it is left out."""
        what = "RELAY recordings list"
        url = self._http.next_page(start, PATH, what) if start else self._base
        params = None if start else {"page_size": min(page_size, 1000)}
        pages = self._pages(url, params, policy)
        try:
            first = next(pages, None)
        except SignalWireError as exc:
            if exc.status != 422 or params is None:
                raise
            pages = self._pages(url, None, policy)
            first = next(pages, None)
        if first is not None:
            yield first
            yield from pages

    def _pages(self, url: str, params: dict[str, Any] | None, policy: RetryPolicy) -> Generator[ListPage]:
        what = "RELAY recordings list"
        for page, next_url in self._http.pages(url, params, what, PATH, _links_next, policy):
            rows = page.get("data") or []
            if not isinstance(rows, list):
                raise SignalWireError(f"{what}: 'data' is not a list")
            yield ListPage([as_row(data) for data in rows if isinstance(data, dict)], next_url)

    def delete_recording(self, sid: str, budget: Budget) -> int:
        """DELETE …/recordings/{id}; see SpaceHttp.delete for what the status means."""
        return self._http.delete(f"{self._base}/{sid}", budget, f"DELETE RELAY recording {sid}")


def _links_next(page: dict[str, Any]) -> Any:
    links = page.get("links")
    return links.get("next") if isinstance(links, dict) else None
