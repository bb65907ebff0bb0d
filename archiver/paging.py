"""A recordings list read page by page: each page bounded, next links followed on the space only, never twice."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

from archiver.errors import SignalWireError
from archiver.signalwire import PAGE_BUDGET_S, Budget, RetryPolicy, SpaceHttp

# PageSize's documented maximum (compatibility-api/recordings/main.tsp 58-63): the spec does not say whether a
# server caps a larger one or refuses it, so none is ever asked for. The RELAY list documents no page size at all
# (relay-rest/recordings/main.tsp 17-29); the same bound is kept there.
MAX_PAGE_SIZE = 1000
PAGE_MAX_BYTES = 16 * 1024 * 1024
# A list page of 1,000 recordings decodes to a few thousand JSON objects; a flood of `{}` to millions.
PAGE_MAX_OBJECTS = 20_000
# Ten million recordings at 1,000 a page: a list longer than that is a list that does not end.
MAX_PAGES = 10_000


class Pager:
    """One API's list paging over the shared session: `path_prefix` is where its next links must stay,
    `next_of` reads the next link from a page."""

    def __init__(self, http: SpaceHttp, path_prefix: str, next_of: Callable[[dict[str, Any]], Any]) -> None:
        self._http = http
        self._path_prefix = path_prefix
        self._next_of = next_of

    def page(self, url: str, params: dict[str, Any] | None, what: str) -> dict[str, Any]:
        """One list page, with a budget of its own."""
        budget = Budget.of(PAGE_BUDGET_S)
        data: dict[str, Any] = self._http.json(
            "GET", url, budget, what, PAGE_MAX_BYTES, max_objects=PAGE_MAX_OBJECTS, params=params
        )[1]
        return data

    def pages(
        self, url: str, params: dict[str, Any] | None, what: str, policy: RetryPolicy
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Every page of a list with the URL of the one after it (None at the end): next links followed on
        the space only, never to a page already read. A `url` that is a next link resumes a listing there."""
        seen: set[str] = set()
        next_url: str | None = url
        while next_url:
            if next_url in seen:
                raise SignalWireError(f"{what}: next page {next_url[:120]!r} was listed already; refused")
            if len(seen) >= MAX_PAGES:
                raise SignalWireError(f"{what}: more than {MAX_PAGES} pages; refused")
            seen.add(next_url)
            page = policy.run(functools.partial(self.page, next_url, params, what))
            next_uri = self._next_of(page)
            try:
                next_url = self.next_page(next_uri, what) if isinstance(next_uri, str) and next_uri else None
            except SignalWireError:
                # What this page lists is still the caller's to act on; the refusal ends the listing after it.
                yield page, None
                raise
            yield page, next_url
            params = None

    def next_page(self, next_uri: str, what: str) -> str:
        """The next page's URL, only if it stays on the space and under the API's path."""
        if not self._http.on_space(next_uri, self._path_prefix):
            raise SignalWireError(f"{what}: next page {next_uri[:120]!r} leaves the project's API; refused")
        return urljoin(self._http.settings.space_url + "/", next_uri)
