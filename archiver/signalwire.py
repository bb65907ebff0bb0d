"""The HTTP core both recording sources share: one session, deadlines, bounded reads, retries, the protocol."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

import requests
import tenacity
import urllib3
from urllib3.exceptions import NameResolutionError

from archiver import __version__, deadline
from archiver.audioformat import refused_media_type
from archiver.config import Settings, is_loopback_host
from archiver.errors import NotAudio, NotFound, SignalWireError, TooLarge, TransientError, Unreachable
from archiver.recordings import Recording, parse_date, whole_number

METADATA_MAX_BYTES = 1024 * 1024
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 30
# Even a request made on the last second of a budget gets this long, so it can succeed at all.
_MIN_ALLOWANCE_S = 5.0
# One list page gets this long, on a budget of its own.
PAGE_BUDGET_S = _MIN_ALLOWANCE_S + _READ_TIMEOUT_S
_MAX_RETRY_AFTER_S = 60.0
_READ_BLOCK = 64 * 1024
_RETRY_STATUSES = frozenset({404, 408, 409, 425, 429})
_IDENTITY = {"Accept-Encoding": "identity"}
# What a media request takes (audioformat.refused_media_type): the bytes then decide.
_MEDIA_ACCEPT = "audio/*, video/mp4, application/octet-stream, binary/octet-stream;q=0.9"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
# An error answer's body is read this far for its code, no further.
_ERROR_BODY_BYTES = 4096


def _no_credentials(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Request-level auth that adds nothing: the session's credentials stay home on another origin."""
    return request


T = TypeVar("T")


@dataclass
class Budget:
    """One piece of work's allowance at SignalWire: a monotonic deadline, and the requests it has made."""

    deadline: float
    requests: int = 0

    @classmethod
    def of(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


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
    # Told before each wait: the seconds it will last and the error that caused it (the CLI shows them).
    on_retry: Callable[[float, BaseException], None] | None = None

    def run(self, fn: Callable[[], T], *, budget_s: float | None = None) -> T:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            wait=_WaitHonouringRetryAfter(self.initial_s, self.cap_s),
            stop=tenacity.stop_before_delay(self.budget_s if budget_s is None else budget_s),
            sleep=self.sleep,
            before_sleep=self._tell if self.on_retry else None,
            reraise=True,
        )
        return retrying(fn)

    def _tell(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if self.on_retry is not None and error is not None and state.next_action is not None:
            self.on_retry(state.next_action.sleep, error)


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
    if status == 404:
        response.close()
        raise NotFound(f"{what}: HTTP 404")
    if status in _RETRY_STATUSES or status >= 500:
        response.close()
        raise TransientError(f"{what}: HTTP {status}", _retry_after(response))
    if status in (401, 403):
        response.close()
        raise SignalWireError(
            f"{what}: HTTP {status}; check SIGNALWIRE_PROJECT_ID and SIGNALWIRE_API_TOKEN (Voice scope)", status
        )
    code = _error_code(response)
    response.close()
    raise SignalWireError(f"{what}: HTTP {status}{code}", status)


def _error_code(response: requests.Response) -> str:
    """`(code N)` from a small JSON error body (a Compatibility API code, for the message only); '' otherwise."""
    try:
        data = json.loads(response.raw.read(_ERROR_BODY_BYTES, decode_content=True))
    # Whatever the body is, the status already says enough.
    except Exception:
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return f" (code {code})" if isinstance(code, int) and not isinstance(code, bool) else ""


def _unreachable(exc: BaseException) -> str | None:
    """Why a host cannot be reached at all (unresolvable, refused), from the exception's chain; None otherwise."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, NameResolutionError):
            return "the host name does not resolve"
        if isinstance(seen, ConnectionRefusedError):
            return "the connection was refused"
        reason = getattr(seen, "reason", None)
        nested = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = reason if isinstance(reason, BaseException) else nested or seen.__cause__ or seen.__context__
    return None


def _announced_length(response: requests.Response) -> int | None:
    """Content-Length as plain ASCII digits; None otherwise."""
    length = whole_number(response.headers.get("Content-Length", ""))
    if length is None:
        return None
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    # A length of compressed bytes says nothing about the audio's size.
    return length if encoding in ("", "identity") else None


def _counting_objects(limit: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    count = 0

    def hook(obj: dict[str, Any]) -> dict[str, Any]:
        nonlocal count
        count += 1
        if count > limit:
            raise TooLarge(f"more than {limit} JSON objects; refused")
        return obj

    return hook


def read_bounded(response: requests.Response, exchange: deadline.Exchange, limit: int, what: str) -> bytes:
    """The whole body, refused once it passes `limit` bytes, announced or not."""
    announced = _announced_length(response)
    if announced is not None and announced > limit:
        raise TooLarge(f"{what}: {announced} bytes announced, over the {limit}-byte limit")
    parts: list[bytes] = []
    total = 0
    while True:
        try:
            chunk: bytes = response.raw.read(_READ_BLOCK, decode_content=True)
        except Exception as exc:
            reason = "deadline passed" if exchange.expired else type(exc).__name__
            raise TransientError(f"{what}: body broke ({reason})") from exc
        if exchange.expired:
            raise TransientError(f"{what}: deadline passed")
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        exchange.received += len(chunk)
        if total > limit:
            raise TooLarge(f"{what}: body over the {limit}-byte limit; refused")
        parts.append(chunk)


class MediaStream:
    """An open media response: `read(n)` returns up to n bytes; headers already checked.

    `content_length` is the size SignalWire announced, or None for a body that ends when the
    connection closes (a cut-off body then looks complete: see Archiver for what follows from that).
    `url` is where the audio finally came from (after redirects), `host` that URL's host.
    """

    def __init__(self, response: requests.Response, exchange: deadline.Exchange, closer: contextlib.ExitStack) -> None:
        self._response = response
        self.url = str(response.url or "")
        self.host = urlsplit(self.url).netloc.rpartition("@")[2][:255]
        self._exchange = exchange
        self._closer = closer
        self.content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        self.content_length = _announced_length(response)

    def read(self, size: int) -> bytes:
        try:
            chunk: bytes = self._response.raw.read(size)
        # urllib3 raises its own ProtocolError/IncompleteRead (not OSError) when a body is cut off.
        except Exception as exc:
            reason = "deadline passed" if self._exchange.expired else type(exc).__name__
            raise TransientError(f"media stream broke: {reason}") from exc
        if self._exchange.expired:
            # The watchdog's cut can look like a clean end of a body without a length.
            raise TransientError("media stream too slow: deadline passed")
        self._exchange.received += len(chunk)
        return chunk

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> MediaStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class SpaceHttp:
    """One session with the space's credentials; every exchange under a deadline, every body bounded."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._session.mount("https://", deadline.DeadlineAdapter())
        self._session.mount("http://", deadline.DeadlineAdapter())
        self._session.auth = (settings.project_id, settings.api_token)
        self._session.headers["User-Agent"] = f"signalwire-gcs-archiver/{__version__}"
        self._session.headers.update(_IDENTITY)
        self._space_on_loopback = is_loopback_host(urlsplit(settings.space_url).hostname or "")

    def listed_media_host(self, url: str) -> bool:
        """True for a URL whose host:port SIGNALWIRE_MEDIA_HOSTS lists, without credentials in it; an entry
        without a port names the scheme's default port only, not every service on that host."""
        try:
            parts = urlsplit(url)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            return False
        default = {"https": 443, "http": 80}.get(parts.scheme)
        named = {host, f"{host}:{default}"} if port in (None, default) else {f"{host}:{port}"}
        return not parts.username and not parts.password and bool(named & self.settings.media_hosts)

    @contextlib.contextmanager
    def exchange(
        self, method: str, url: str, budget: Budget, what: str, *, follow: bool = True, **kwargs: Any
    ) -> Iterator[tuple[requests.Response, deadline.Exchange]]:
        """One request under a wall-clock deadline covering connect, redirects, headers and the whole body."""
        budget.requests += 1
        with deadline.limit(max(budget.remaining(), _MIN_ALLOWANCE_S)) as exchange:
            for hop in range(_MAX_REDIRECTS + 1):
                response = self._send(method, url, exchange, what, hop, **kwargs)
                location = response.headers.get("Location") if response.status_code in _REDIRECTS else None
                if not follow or not location:
                    break
                # requests would read every redirect's body whole; none is read here.
                response.close()
                url = self._redirect_target(url, location, what)
                method = "GET" if response.status_code == 303 and method != "HEAD" else method
            else:
                raise SignalWireError(f"{what}: more than {_MAX_REDIRECTS} redirects")
            with response:
                yield response, exchange

    def _send(
        self, method: str, url: str, exchange: deadline.Exchange, what: str, hop: int = 0, **kwargs: Any
    ) -> requests.Response:
        host = urlsplit(url).netloc
        on_space = self.on_space(url)
        # The credentials go to the space's own origin, and to a listed media host when asked directly;
        # never along a redirect to another origin.
        auth = None if on_space or (hop == 0 and self.listed_media_host(url)) else _no_credentials
        # Off the space, only a public address is ever connected to (checked on the connected socket,
        # so a name that resolves anew cannot steer it); a stand-in space on loopback lifts this for tests.
        exchange.public_peer_only = not on_space and not self._space_on_loopback
        try:
            request = self._session.prepare_request(requests.Request(method, url, auth=auth, **kwargs))
            # The adapter itself: Session.send reads a redirect's whole body even with allow_redirects=False.
            adapter = self._session.get_adapter(url)
            return adapter.send(request, stream=True, timeout=(_CONNECT_TIMEOUT_S, _READ_TIMEOUT_S))
        except deadline.ForbiddenPeer as exc:
            raise SignalWireError(f"{method} {what} at {host}: {exc}; refused") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if not exchange.expired and (why := _unreachable(exc)):
                hint = "; check SIGNALWIRE_SPACE_URL" if on_space else " (a media host named by SignalWire)"
                raise Unreachable(f"cannot reach {host}: {why}{hint}") from exc
            reason = "deadline passed" if exchange.expired else type(exc).__name__
            raise TransientError(f"{method} {what} at {host}: {reason}") from exc
        # Whatever else a misbehaving answer raises (a bad header, a bad encoding): a failed attempt.
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise TransientError(f"{method} {what} at {host}: {type(exc).__name__}") from exc

    def _redirect_target(self, url: str, location: str, what: str) -> str:
        target = urljoin(url, location.strip())
        scheme = urlsplit(target).scheme
        # https anywhere, or the space's own scheme (http for a loopback stand-in): never a downgrade.
        if scheme not in ("https", urlsplit(self.settings.space_url).scheme):
            raise SignalWireError(f"{what}: redirect to {target[:120]!r} refused")
        return target

    def json(
        self, method: str, url: str, budget: Budget, what: str, limit: int, max_objects: int = 1000, **kwargs: Any
    ) -> tuple[bytes, Any]:
        with self.exchange(method, url, budget, what, **kwargs) as (response, exchange):
            _check(response, what)
            raw = read_bounded(response, exchange, limit, what)
        try:
            data = json.loads(raw, object_hook=_counting_objects(max_objects))
        except TooLarge as exc:
            raise TooLarge(f"{what}: {exc}") from None
        # RecursionError: thousands of nested brackets are not JSON anyone means.
        except (ValueError, RecursionError) as exc:
            raise TransientError(f"{what}: unreadable JSON ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise TransientError(f"{what}: JSON is not an object")
        return raw, data

    def on_space(self, url: str, path_prefix: str = "/") -> bool:
        """True for a URL on the configured space's origin, under `path_prefix`, without credentials in it."""
        space = urlsplit(self.settings.space_url)
        try:
            target = urlsplit(urljoin(self.settings.space_url + "/", url))
            same_origin = (target.scheme, target.hostname, target.port) == (space.scheme, space.hostname, space.port)
        except ValueError:
            return False
        # The path as the server will read it: %2e%2e is '..', and any dot segment or backslash could climb out.
        path = unquote(target.path)
        climbs = "\\" in path or "//" in path or any(part in (".", "..") for part in path.split("/"))
        return (
            same_origin and not target.username and not target.password and not climbs and path.startswith(path_prefix)
        )

    def open_media(self, url: str, budget: Budget, what: str) -> MediaStream:
        """Open an audio stream; the body is read by the caller, chunk by chunk, under the same deadline."""
        closer = contextlib.ExitStack()
        try:
            # Content-Length must count the audio bytes themselves, not a compressed form.
            response, exchange = closer.enter_context(
                self.exchange("GET", url, budget, what, headers={"Accept": _MEDIA_ACCEPT})
            )
            _check(response, what)
            media = MediaStream(response, exchange, closer)
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                # Asked for identity; compressed bytes stored as audio would be neither the audio nor its size.
                raise SignalWireError(f"{what}: Content-Encoding {encoding[:32]!r} despite Accept-Encoding: identity")
            if refusal := refused_media_type(media.content_type):
                # An error page answered with 200 must never be stored as audio; its body is never read.
                raise NotAudio(f"{what} from {media.host}: {refusal}")
            limit = self.settings.max_recording_bytes
            if media.content_length is not None and media.content_length > limit:
                raise TooLarge(f"{what}: {media.content_length} bytes announced, over MAX_RECORDING_MB")
        except BaseException:
            closer.close()
            raise
        return media

    def head_size(self, url: str, budget: Budget, what: str) -> int | None:
        """A size as SignalWire announces it to a HEAD request; None when it will not say."""
        try:
            with self.exchange("HEAD", url, budget, what) as (response, _):
                return _announced_length(response) if response.status_code == 200 else None
        except SignalWireError:
            return None

    def delete(self, url: str, budget: Budget, what: str) -> int:
        """DELETE, never following a redirect; returns SignalWire's status.

        200/204 mean deleted and 404 already gone; TransientError for answers worth retrying. Any
        other status (a redirect included: it would send the delete somewhere else) is returned as
        it is, for the caller to record as not deleted.
        """
        with self.exchange("DELETE", url, budget, what, follow=False) as (response, _):
            status = response.status_code
        if status in (408, 409, 425, 429) or status >= 500:
            raise TransientError(f"{what}: HTTP {status}", _retry_after(response))
        return status


class ListPage(NamedTuple):
    """One page of a recordings list: its rows, and the URL of the page after it (None: the last)."""

    rows: list[dict[str, Any]]
    next: str | None


class RecordingSource(Protocol):
    """One SignalWire API's recordings: what `Archiver` and the sweep need, and nothing more.

    `name` is the API (an `Api`); `size_from` says where `media_size` gets its answer.
    List rows read like a LaML recording (`sid`, `status`, `date_created`) and carry `api`; pages
    come `newest_first` when the API documents that order (the sweep then resumes mid-window), and
    each names the page after it, so a listing cut short can resume there (`start`). The filters
    sent may be read loosely by the server: every row is judged against the window by the caller.
    """

    name: str
    size_from: str
    newest_first: bool

    def recording(self, sid: str, budget: Budget) -> Recording: ...
    def open_media(self, recording: Recording, budget: Budget) -> MediaStream: ...
    def media_size(self, sid: str, budget: Budget, fmt: str | None = None) -> int | None: ...
    def delete_recording(self, sid: str, budget: Budget) -> int: ...
    def recording_pages(
        self, since: datetime, until: datetime, policy: RetryPolicy, page_size: int = 1000, start: str | None = None
    ) -> Generator[ListPage]: ...
