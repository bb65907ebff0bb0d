"""Recordings through the RELAY REST API (SWML `record_call`, Calling API `calling.record`).

What the docs leave open is read both ways: a status of `completed` or `finished` means audio, the
audio's `url` may be on the space or anywhere else (an object store's presigned URL), its format is
whatever its bytes are (the URL's extension is only a hint), and a listing without a date filter is
read whole and judged row by row by the sweep (archiver.listing).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from archiver.audioformat import extension_of
from archiver.config import Settings, is_sid
from archiver.errors import SignalWireError
from archiver.paging import MAX_PAGE_SIZE, Pager
from archiver.recordings import Api, Recording
from archiver.signalwire import METADATA_MAX_BYTES, Budget, ListPage, MediaStream, RetryPolicy, SpaceHttp

PATH = "/api/relay/rest/recordings"
# The spec documents no enumeration for `status` (relay-rest/recordings/models/core.tsp): these are the
# words read as final; the call-state words are read as not final; any other is reported as unknown.
_WITH_AUDIO = frozenset({"completed", "finished"})
_WITHOUT_AUDIO = frozenset({"failed", "error", "no_input", "absent"})
_NOT_FINAL = {
    "recording": "in-progress",
    "in_progress": "in-progress",
    "in-progress": "in-progress",
    "paused": "paused",
    "queued": "queued",
    "processing": "processing",
}


def as_row(data: dict[str, Any]) -> dict[str, Any]:
    """A RELAY recording read like a LaML one (`sid`, `status`, `date_created`, `duration`), plus `api` and `format`.

    Its own status is kept as `relay_status`; the stored metadata stays the bytes SignalWire sent.
    """
    status = str(data.get("status") or "").lower()[:32]
    if status in _WITH_AUDIO:
        status = "completed"
    elif status in _WITHOUT_AUDIO:
        status = "failed"
    else:
        status = _NOT_FINAL.get(status, status)
    return {
        **data,
        "sid": str(data.get("id") or ""),
        "status": status,
        "relay_status": data.get("status"),
        "date_created": data.get("created_at"),
        "duration": data.get("duration_in_seconds"),
        "api": RelaySource.name,
        "format": extension_of(data.get("url")),
    }


class RelaySource:
    """`GET/DELETE /api/relay/rest/recordings/{id}` and the listing; audio from wherever its `url` points, safely."""

    name: str = Api.RELAY
    size_from = "byte_size"
    # The docs state no order for this list (signalwire/docs relay-rest/recordings/main.tsp).
    newest_first = False

    def __init__(self, http: SpaceHttp, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self._base = settings.space_url + PATH
        self._pager = Pager(http, PATH, _links_next)

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
        """The audio from the metadata's `url`: a relative one is joined with the space.

        On the space it is fetched with the credentials; elsewhere over https (or the space's own scheme,
        http only for a loopback stand-in), without credentials unless SIGNALWIRE_MEDIA_HOSTS lists the
        host, and only from a public address (SpaceHttp checks the address it connects to).
        """
        url = recording.data.get("url")
        what = f"RELAY recording {recording.sid} audio"
        shown = url[:120] if isinstance(url, str) else None
        if not isinstance(url, str) or not url.strip() or len(url) > _MAX_URL:
            raise SignalWireError(f"{what}: media URL {shown!r} is missing or unusable; refused")
        space = self._settings.space_url
        try:
            target = urljoin(space + "/", url.strip())
            parts, home = urlsplit(target), urlsplit(space)
            same_host = (parts.hostname, parts.port) == (home.hostname, home.port)
        except ValueError:
            raise SignalWireError(f"{what}: media URL {shown!r} does not parse; refused") from None
        if self._http.on_space(target):
            return self._http.open_media(target, budget, what)
        if same_host or parts.username or parts.password or parts.scheme not in ("https", home.scheme):
            # On the space's host but climbing out of its paths, carrying credentials, or in clear text.
            raise SignalWireError(f"{what}: media URL {shown!r} refused")
        return self._http.open_media(target, budget, what)

    def media_size(self, sid: str, budget: Budget, fmt: str | None = None) -> int | None:
        """`byte_size` from the metadata, read now; None when SignalWire does not say. A RELAY recording has one
        format, so `fmt` plays no part."""
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
        url = self._pager.next_page(start, what) if start else self._base
        params = None if start else {"page_size": min(page_size, MAX_PAGE_SIZE)}
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
        for page, next_url in self._pager.pages(url, params, what, policy):
            rows = page.get("data") or []
            if not isinstance(rows, list):
                raise SignalWireError(f"{what}: 'data' is not a list")
            yield ListPage([as_row(data) for data in rows if isinstance(data, dict)], next_url)

    def delete_recording(self, sid: str, budget: Budget) -> int:
        """DELETE …/recordings/{id}; see SpaceHttp.delete for what the status means."""
        return self._http.delete(f"{self._base}/{sid}", budget, f"DELETE RELAY recording {sid}")


_MAX_URL = 2048


def _links_next(page: dict[str, Any]) -> Any:
    links = page.get("links")
    return links.get("next") if isinstance(links, dict) else None
