"""The stand-in's list endpoints: LaML pages by PageToken, RELAY by `links`, and each reading the spec leaves open.

LaML (specs/compatibility-api/recordings/main.tsp lines 17-73, models/responses.tsp lines 6-33): newest
first; `DateCreated>` / `DateCreated<` in RFC 2822; `Page`, `PageSize` (default 50, at most 1000) and
`PageToken`, "required when navigating to pages beyond the first"; the page carries `uri`,
`first_page_uri`, `next_page_uri`, `previous_page_uri`, `page`, `page_size` (and, as Twilio's do,
`start` and `end`). RELAY (specs/signalwire-rest/relay-rest/recordings/main.tsp lines 18-30,
models/responses.tsp lines 6-13, addresses/models/responses.tsp lines 28-40): `{"links": {self, first,
next?, prev?}, "data": [...]}`, answering 401, 404, 422 or 500 on error; no order, no filter and no
page size are documented. The switches play each reading: filters read exclusive, inclusive, date-only
or not at all; a server-side page-size cap; a page size over the documented 1000 capped or refused
(the spec gives the maximum, not what the server does past it); page tokens that expire (400, with a
code the spec does not give for it: SignalWire's list has 10000 "The argument passed is invalid" and
20001 "An unknown error occurred"); RELAY rows in any order, a refused `page_size`, slow pages.
Dates are parsed here with email.utils, never with the archiver's own parser.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from localspace import errors
from localspace.errors import INVALID_ARGUMENT, UNKNOWN_ERROR

READINGS = ("exclusive", "inclusive", "date-only", "ignored")
ORDERS = ("newest", "oldest", "shuffled")
# PageSize's @maxValue (compatibility-api/recordings/main.tsp 58-63). The RELAY list documents no page_size
# (relay-rest/recordings/main.tsp 17-29): applying this bound there too is a reading, as is refusing any
# page_size (`relay_refuses_page_size`).
MAX_PAGE_SIZE = 1000
# Codes an expired page token may plausibly carry: none is documented for it (see above).
EXPIRED_TOKEN_CODES = (INVALID_ARGUMENT, UNKNOWN_ERROR)


class Listed(Protocol):
    """What a list needs of a recording: when it was made, and its document."""

    created: datetime


def _rfc2822(value: str) -> datetime:
    moment = parsedate_to_datetime(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class Listing:
    """The switches, and the page tokens handed out (a token names the offset its page starts at)."""

    reading: str = "exclusive"
    page_size_cap: int = MAX_PAGE_SIZE
    # A page size over MAX_PAGE_SIZE: None caps it silently; 400 or 422 refuses it with that status (RELAY: 422,
    # the only refusal its list documents, relay-rest/recordings/main.tsp 25-30).
    too_large_page_size: int | None = None
    relay_order: str = "newest"
    relay_refuses_page_size: bool = False
    relay_page_delay_s: float = 0.0
    # Seconds a page token is honoured for (None: for ever; 0: never, every next link has expired).
    token_lifetime_s: float | None = None
    # The code an expired page token's 400 carries: one of EXPIRED_TOKEN_CODES.
    expired_token_code: int = INVALID_ARGUMENT
    _tokens: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_tokens(self) -> None:
        """Every page token handed out so far stops working, as one that outlived its time does."""
        with self._lock:
            self._tokens.clear()

    def _token(self, offset: int) -> str:
        token = f"PA{uuid.uuid4()}"
        with self._lock:
            self._tokens[token] = (offset, time.monotonic())
        return token

    def _matches(self, request: Request) -> Callable[[datetime], bool] | Response:
        """The date filter as this switch reads it; a 400 for a date that is not RFC 2822."""
        try:
            after = _rfc2822(request.args["DateCreated>"]) if "DateCreated>" in request.args else None
            before = _rfc2822(request.args["DateCreated<"]) if "DateCreated<" in request.args else None
        except (TypeError, ValueError):
            return errors.compatibility(400, "DateCreated must be an RFC 2822 date")
        reading = self.reading

        def inside(created: datetime) -> bool:
            if reading == "ignored":
                return True
            if reading == "date-only":
                return (after is None or created.date() > after.date()) and (
                    before is None or created.date() < before.date()
                )
            if reading == "inclusive":
                return (after is None or created >= after) and (before is None or created <= before)
            return (after is None or created > after) and (before is None or created < before)

        return inside

    def _size(self, asked: int) -> int:
        """The rows a page holds: what was asked, within 1 and the maximum, and under a server-side cap."""
        return max(1, min(asked, MAX_PAGE_SIZE, self.page_size_cap))

    def laml(
        self, request: Request, recordings: Iterable[Listed], document: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any] | Response:
        """One page of the LaML list, or the error the request earns."""
        inside = self._matches(request)
        if isinstance(inside, Response):
            return inside
        try:
            asked = int(request.args.get("PageSize", 50))
            page = max(0, int(request.args.get("Page", 0)))
        except ValueError:
            return errors.compatibility(400, "Page and PageSize must be numbers")
        if asked > MAX_PAGE_SIZE and self.too_large_page_size is not None:
            return errors.compatibility(self.too_large_page_size, f"PageSize must be at most {MAX_PAGE_SIZE}")
        size = self._size(asked)
        offset = 0
        if page > 0:
            with self._lock:
                known = self._tokens.get(request.args.get("PageToken", ""))
            lifetime = self.token_lifetime_s
            if known is None or (lifetime is not None and time.monotonic() - known[1] >= lifetime):
                return errors.compatibility(400, "Invalid paging parameter: PageToken", self.expired_token_code)
            offset = known[0]
        chosen = sorted((r for r in recordings if inside(r.created)), key=lambda r: r.created, reverse=True)
        rows = chosen[offset : offset + size]
        kept = {k: v for k, v in request.args.items() if k not in ("Page", "PageToken", "PageSize")}

        def uri(number: int, at: int | None) -> str:
            query = kept | {"Page": str(number), "PageSize": str(size)}
            if at is not None:
                query["PageToken"] = self._token(at)
            return f"{request.path}?{urlencode(query)}"

        more = offset + size < len(chosen)
        return {
            "uri": request.full_path.rstrip("?"),
            "first_page_uri": uri(0, None),
            "next_page_uri": uri(page + 1, offset + size) if more else None,
            "previous_page_uri": uri(page - 1, max(0, offset - size)) if page > 0 else None,
            "page": page,
            "page_size": size,
            "start": offset,
            "end": offset + max(0, len(rows) - 1),
            "recordings": [document(r) for r in rows],
        }

    def relay(
        self, request: Request, recordings: Iterable[Listed], document: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any] | Response:
        """One page of the RELAY list, `links` and `data`, or the error the request earns."""
        if self.relay_page_delay_s:
            time.sleep(self.relay_page_delay_s)
        if self.relay_refuses_page_size and "page_size" in request.args:
            return errors.relay(422, "page_size is not a valid parameter")
        try:
            asked = int(request.args.get("page_size", 50))
            page = max(0, int(request.args.get("page_number", 0)))
        except ValueError:
            return errors.relay(422, "page_size and page_number must be numbers")
        if asked > MAX_PAGE_SIZE and self.too_large_page_size is not None:
            return errors.relay(422, f"page_size must be at most {MAX_PAGE_SIZE}")
        size = self._size(asked)
        chosen = sorted(recordings, key=lambda r: r.created, reverse=self.relay_order != "oldest")
        if self.relay_order == "shuffled":
            # The same shuffle on every request, so pages do not overlap.
            random.Random(len(chosen)).shuffle(chosen)
        rows = chosen[page * size : (page + 1) * size]
        origin = request.host_url.rstrip("/")

        def link(number: int) -> str:
            sized = {"page_size": str(size)} if "page_size" in request.args else {}
            return f"{origin}{request.path}?{urlencode(sized | {'page_number': str(number)})}"

        links = {"self": f"{origin}{request.full_path.rstrip('?')}", "first": link(0)}
        if (page + 1) * size < len(chosen):
            links["next"] = link(page + 1)
        if page > 0:
            links["prev"] = link(page - 1)
        return {"links": links, "data": [document(r) for r in rows]}
