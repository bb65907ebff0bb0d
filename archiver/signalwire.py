"""SignalWire REST client for recordings: metadata, media streams, listing and delete, with retries."""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, TypeVar

import requests
import tenacity

from archiver import __version__
from archiver.config import Settings, is_sid

FINAL_WITH_AUDIO = frozenset({"completed", "stopped"})
NO_AUDIO = frozenset({"absent", "failed"})
NOT_FINAL = frozenset({"in-progress", "paused", "resumed", "queued", "processing"})
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 30
_MAX_RETRY_AFTER_S = 60.0

T = TypeVar("T")


class SignalWireError(Exception):
    """A request to SignalWire failed in a way retrying will not fix."""


class TransientError(SignalWireError):
    """Worth another try: not yet available, rate limited, a 5xx, a cut connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Recording:
    """A recording's metadata: the exact bytes SignalWire returned, and their parse."""

    raw: bytes
    data: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.data.get("sid", ""))

    @property
    def status(self) -> str:
        return str(self.data.get("status") or "").lower()


def parse_date(value: Any) -> datetime:
    """RFC 2822 (as SignalWire sends) or ISO 8601, returned in UTC; ValueError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no date in {value!r}")
    text = value.strip()
    # SignalWire's own docs show "Sept"; RFC 2822 only knows "Sep".
    text = text.replace(" Sept ", " Sep ")
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=False)


@dataclass
class Attempts:
    """Counts every HTTP attempt made to SignalWire for one recording."""

    count: int = 0


class _WaitHonouringRetryAfter(tenacity.wait.wait_base):
    """Capped exponential backoff with full jitter, never shorter than a server's `Retry-After`."""

    def __init__(self, initial: float, cap: float) -> None:
        self.initial = initial
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        backoff = random.uniform(0, min(self.cap, self.initial * 2 ** (retry_state.attempt_number - 1)))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        return max(backoff, min(retry_after, _MAX_RETRY_AFTER_S)) if retry_after else backoff


@dataclass
class RetryPolicy:
    """How long and how often to retry transient failures; one budget for one recording."""

    budget_s: float
    initial_s: float = 0.5
    cap_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def run(self, fn: Callable[[], T], *, budget_s: float | None = None) -> T:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            wait=_WaitHonouringRetryAfter(self.initial_s, self.cap_s),
            stop=tenacity.stop_before_delay(self.budget_s if budget_s is None else budget_s),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(fn)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parse_date(value) - datetime.now(UTC)).total_seconds())
        except ValueError:
            return None


def _check(response: requests.Response, what: str) -> None:
    """Raise the right error for a non-2xx answer, closing the response."""
    if response.status_code < 300:
        return
    status = response.status_code
    response.close()
    if status in (404, 408, 409, 425, 429) or status >= 500:
        raise TransientError(f"{what}: HTTP {status}", _retry_after(response))
    if status in (401, 403):
        raise SignalWireError(
            f"{what}: HTTP {status}; check SIGNALWIRE_PROJECT_ID and SIGNALWIRE_API_TOKEN (Voice scope)"
        )
    raise SignalWireError(f"{what}: HTTP {status}")


class MediaStream:
    """An open media response: `read(n)` returns up to n bytes; headers already checked."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        length = response.headers.get("Content-Length")
        self.content_length = int(length) if length and length.isdigit() else None

    def read(self, size: int) -> bytes:
        try:
            return self._response.raw.read(size)
        # urllib3 raises its own ProtocolError/IncompleteRead (not OSError) when a body is cut off.
        except Exception as exc:
            raise TransientError(f"media stream broke: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> MediaStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class SignalWireClient:
    """Every URL is built from the configured space and validated SIDs, never from a callback."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._session = session or requests.Session()
        self._session.auth = (settings.project_id, settings.api_token)
        self._session.headers["User-Agent"] = f"signalwire-gcs-archiver/{__version__}"

    def _url(self, suffix: str) -> str:
        return f"{self._settings.api_base}/{suffix}"

    def _get(self, url: str, attempts: Attempts, **kwargs: Any) -> requests.Response:
        attempts.count += 1
        try:
            return self._session.get(url, timeout=(_CONNECT_TIMEOUT_S, _READ_TIMEOUT_S), **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"GET {url.rsplit('/', 1)[-1]}: {type(exc).__name__}") from exc

    def _json(self, response: requests.Response, what: str) -> tuple[bytes, dict[str, Any]]:
        try:
            raw = response.content
            data = json.loads(raw)
        except (requests.RequestException, ValueError) as exc:
            raise TransientError(f"{what}: unreadable JSON ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise TransientError(f"{what}: JSON is not an object")
        return raw, data

    def recording(self, sid: str, attempts: Attempts) -> Recording:
        """GET …/Recordings/{sid}.json once; the caller decides about retries."""
        if not is_sid(sid):
            raise SignalWireError(f"not a recording SID: {sid!r}")
        what = f"recording {sid} metadata"
        response = self._get(self._url(f"Recordings/{sid}.json"), attempts)
        _check(response, what)
        raw, data = self._json(response, what)
        if str(data.get("sid", "")).lower() != sid.lower():
            raise SignalWireError(f"{what}: response is for another recording ({data.get('sid')!r})")
        account = str(data.get("account_sid") or self._settings.project_id).lower()
        if account != self._settings.project_id:
            raise SignalWireError(f"{what}: recording belongs to another account")
        return Recording(raw=raw, data=data)

    def open_media(self, sid: str, attempts: Attempts) -> MediaStream:
        """Open the audio stream; the body is read by the caller, chunk by chunk."""
        fmt = self._settings.recording_format
        response = self._get(
            self._url(f"Recordings/{sid}.{fmt}"),
            attempts,
            stream=True,
            # Content-Length must count the audio bytes themselves, not a compressed form.
            headers={"Accept-Encoding": "identity", "Accept": "audio/*"},
        )
        _check(response, f"recording {sid} audio")
        media = MediaStream(response)
        if not media.content_type.startswith("audio/"):
            media.close()
            # An error page answered with 200 must never be stored as audio.
            raise TransientError(f"recording {sid} audio: unexpected Content-Type {media.content_type or 'none'!r}")
        return media

    def list_recordings(
        self, since: datetime, until: datetime, attempts: Attempts, policy: RetryPolicy, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every recording created in (since, until), newest first, following `next_page_uri`."""
        url: str | None = self._url("Recordings.json")
        params: dict[str, Any] | None = {
            "PageSize": page_size,
            "DateCreated>": rfc2822(since),
            "DateCreated<": rfc2822(until),
        }
        while url:
            page = policy.run(functools.partial(self._page, url, params, attempts))
            recordings = page.get("recordings") or []
            if not isinstance(recordings, list):
                raise SignalWireError("recordings list: 'recordings' is not a list")
            yield from (r for r in recordings if isinstance(r, dict))
            next_uri = page.get("next_page_uri")
            url = f"{self._settings.space_url}{next_uri}" if isinstance(next_uri, str) and next_uri else None
            params = None

    def _page(self, url: str, params: dict[str, Any] | None, attempts: Attempts) -> dict[str, Any]:
        response = self._get(url, attempts, params=params)
        _check(response, "recordings list")
        return self._json(response, "recordings list")[1]

    def delete_recording(self, sid: str, attempts: Attempts) -> None:
        """DELETE …/Recordings/{sid}; a 404 means it is already gone."""
        attempts.count += 1
        try:
            response = self._session.delete(
                self._url(f"Recordings/{sid}"), timeout=(_CONNECT_TIMEOUT_S, _READ_TIMEOUT_S)
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"DELETE recording {sid}: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return
        _check(response, f"DELETE recording {sid}")
