"""Recordings through the Compatibility (cXML/LaML) REST API: metadata, media, listing and delete."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.config import RECORDING_FORMATS, Settings, is_sid
from archiver.errors import SignalWireError
from archiver.listing import laml_filters
from archiver.paging import MAX_PAGE_SIZE, Pager
from archiver.progress import Window
from archiver.recordings import Api, Recording
from archiver.signalwire import METADATA_MAX_BYTES, Budget, ListPage, MediaStream, RetryPolicy, SpaceHttp


class LamlSource:
    """Every URL is built from the configured space and validated SIDs, never from a callback."""

    name: str = Api.LAML
    size_from = "head"
    # Documented: the list answers newest first.
    newest_first = True

    def __init__(self, http: SpaceHttp, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self._pager = Pager(http, urlsplit(settings.api_base).path + "/", _next_page_uri)

    def _url(self, suffix: str) -> str:
        return f"{self._settings.api_base}/{suffix}"

    def recording(self, sid: str, budget: Budget) -> Recording:
        """GET …/Recordings/{sid}.json once; the caller decides about retries."""
        if not is_sid(sid):
            raise SignalWireError(f"not a recording SID: {sid[:64]!r}")
        what = f"recording {sid} metadata"
        raw, data = self._http.json("GET", self._url(f"Recordings/{sid}.json"), budget, what, METADATA_MAX_BYTES)
        if str(data.get("sid", "")).lower() != sid.lower():
            raise SignalWireError(f"{what}: response is for another recording ({str(data.get('sid'))[:64]!r})")
        account = str(data.get("account_sid") or self._settings.project_id).lower()
        if account != self._settings.project_id:
            raise SignalWireError(f"{what}: recording belongs to another account")
        return Recording(raw=raw, data={**data, "api": self.name})

    def _media_url(self, sid: str, fmt: str | None = None) -> str:
        """The audio in `fmt` when LaML serves it (mp3, wav), else in RECORDING_FORMAT."""
        return self._url(f"Recordings/{sid}.{fmt if fmt in RECORDING_FORMATS else self._settings.recording_format}")

    def open_media(self, recording: Recording, budget: Budget) -> MediaStream:
        return self._http.open_media(self._media_url(recording.sid), budget, f"recording {recording.sid} audio")

    def media_size(self, sid: str, budget: Budget, fmt: str | None = None) -> int | None:
        """The audio's size in `fmt` as SignalWire announces it to a HEAD request; None when it will not say.

        WAV and MP3 are two encodings of one recording, of different sizes: an archive is sized in its own
        format, whatever RECORDING_FORMAT says now.
        """
        return self._http.head_size(self._media_url(sid, fmt), budget, f"recording {sid} audio size")

    def recording_pages(
        self, since: datetime, until: datetime, policy: RetryPolicy, page_size: int = 1000, start: str | None = None
    ) -> Generator[ListPage]:
        """The recordings list with filters that cover (since, until) however the server reads them
        (listing.laml_filters), newest first, following `next_page_uri`; from `start` when it is a next link."""
        what = "recordings list"
        url = self._pager.next_page(start, what) if start else self._url("Recordings.json")
        params = None if start else {"PageSize": min(page_size, MAX_PAGE_SIZE), **laml_filters(Window(since, until))}
        for page, next_url in self._pager.pages(url, params, what, policy):
            recordings = page.get("recordings") or []
            if not isinstance(recordings, list):
                raise SignalWireError("recordings list: 'recordings' is not a list")
            yield ListPage([{**r, "api": self.name} for r in recordings if isinstance(r, dict)], next_url)

    def delete_recording(self, sid: str, budget: Budget) -> int:
        """DELETE …/Recordings/{sid}; see SpaceHttp.delete for what the status means."""
        return self._http.delete(self._url(f"Recordings/{sid}"), budget, f"DELETE recording {sid}")


def _next_page_uri(page: dict[str, Any]) -> Any:
    return page.get("next_page_uri")
