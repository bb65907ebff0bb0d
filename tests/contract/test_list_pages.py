"""The stand-in's list pages against SignalWire's published spec (signalwire/docs), field by field.

Sources, in the signalwire/docs repository:
- specs/compatibility-api/recordings/main.tsp lines 17-73: the LaML list, "ordered by creation date
  (newest first)" (line 20), DateCreated< / DateCreated> in RFC 2822 (lines 32-40), Page zero-indexed
  (52-56), PageSize default 50, at most 1000 (58-63), PageToken "required when navigating to pages beyond
  the first" (65-68); errors 400, 401, 422 (71-73).
- specs/compatibility-api/recordings/models/responses.tsp lines 6-33 (also fern/apis/compatibility/
  openapi.yaml lines 11061-11105, where all seven are `required`): uri, first_page_uri, next_page_uri
  (string or null; its example carries Page, PageSize and PageToken, line 16), previous_page_uri
  (string or null), page, page_size (int32), recordings.
- specs/signalwire-rest/relay-rest/recordings/main.tsp lines 18-30: the RELAY list, answering 401, 404,
  422 (ValidationError) or 500; models/responses.tsp lines 6-13: `links` and `data`;
  specs/signalwire-rest/relay-rest/addresses/models/responses.tsp lines 28-40: PaginationLinks with
  `self` and `first` required, `next` "only present when there are more results", `prev` "only present
  when not on the first page".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from localspace.listing import EXPIRED_TOKEN_CODES
from localspace.space import Fault, Space
from tests.contract.spec import COMPAT_ERROR, relay_error_violations, violations
from tests.helpers import TOKEN

# responses.tsp lines 6-33: name -> the JSON types it may take.
LAML_PAGE_FIELDS: dict[str, tuple[type, ...]] = {
    "uri": (str,),
    "first_page_uri": (str,),
    "next_page_uri": (str, type(None)),
    "previous_page_uri": (str, type(None)),
    "page": (int,),
    "page_size": (int,),
    "recordings": (list,),
}
# addresses/models/responses.tsp lines 28-40: required links, and those present only sometimes.
RELAY_LINKS_REQUIRED = {"self", "first"}
RELAY_LINKS_OPTIONAL = {"next", "prev"}


def laml(space: Space, path_or_query: str = "", **params: Any) -> requests.Response:
    base = f"{space.url}/api/laml/2010-04-01/Accounts/{space.project_id}/Recordings.json"
    url = f"{space.url}{path_or_query}" if path_or_query.startswith("/") else base
    return requests.get(url, params=params or None, auth=(space.project_id, TOKEN), timeout=10)


def relay(space: Space, url: str | None = None, **params: Any) -> requests.Response:
    target = url or f"{space.url}/api/relay/rest/recordings"
    return requests.get(target, params=params or None, auth=(space.project_id, TOKEN), timeout=10)


def check_laml_page(page: dict[str, Any]) -> None:
    assert set(LAML_PAGE_FIELDS) <= set(page)
    for name, types in LAML_PAGE_FIELDS.items():
        assert isinstance(page[name], types) and not isinstance(page[name], bool), name


def check_error(response: requests.Response, status: int) -> None:
    """A CompatibilityErrorResponse (compatibility-api/_shared/errors.tsp lines 4-20) for `status`."""
    body = response.json()
    assert response.status_code == status and violations(body, COMPAT_ERROR, closed=True) == [], body
    assert body["status"] == status


@pytest.fixture
def filled(space: Space) -> Space:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    for minute in range(7):
        space.add(size=1_000, created=start + timedelta(minutes=minute))
        space.add(size=1_000, api="relay", created=start + timedelta(minutes=minute))
    return space


def test_laml_pages_carry_the_documented_fields_and_page_by_token_newest_first(filled: Space) -> None:
    answer = laml(filled, PageSize=3)
    assert answer.status_code == 200
    page = answer.json()
    check_laml_page(page)
    assert (page["page"], page["page_size"], page["previous_page_uri"]) == (0, 3, None)
    seen, pages = [], 0
    while True:
        check_laml_page(page)
        seen += [r["date_created"] for r in page["recordings"]]
        pages += 1
        if page["next_page_uri"] is None:
            break
        query = parse_qs(urlsplit(page["next_page_uri"]).query)
        assert {"Page", "PageSize", "PageToken"} <= set(query)  # responses.tsp line 16
        page = laml(filled, page["next_page_uri"]).json()
        assert page["previous_page_uri"] is not None and page["page"] == pages
    assert pages == 3 and len(seen) == 7
    moments = [datetime.strptime(d, "%a, %d %b %Y %H:%M:%S %z") for d in seen]
    assert moments == sorted(moments, reverse=True)  # main.tsp line 20: newest first


def test_laml_later_pages_need_their_token(filled: Space) -> None:
    check_error(laml(filled, Page=1, PageSize=3), 400)  # main.tsp lines 65-68: no PageToken


@pytest.mark.parametrize("refusal", [None, 400, 422])
def test_a_page_size_over_1000_is_capped_or_refused_as_the_list_documents(filled: Space, refusal: int | None) -> None:
    """PageSize has @maxValue(1000) (main.tsp 58-63) without saying what a larger one earns: capped, or refused
    with one of the list's documented errors (400 or 422, main.tsp 71-73). The RELAY list documents no page_size
    at all (relay-rest main.tsp 17-29); the stand-in reads LaML's bound into it, refusing with the one validation
    error that list documents (422, main.tsp 25-30); a RELAY list refusing any page_size is played in
    tests/test_sweep_lists.py."""
    filled.listing.too_large_page_size = refusal
    for size in (1, 1000):
        assert laml(filled, PageSize=size).json()["page_size"] == size  # minValue 1, maxValue 1000
        assert relay(filled, page_size=size).status_code == 200
    if refusal is None:
        assert laml(filled, PageSize=5000).json()["page_size"] == 1000
        assert relay(filled, page_size=5000).status_code == 200
    else:
        check_error(laml(filled, PageSize=5000), refusal)
        refused = relay(filled, page_size=5000)
        assert refused.status_code == 422 and relay_error_violations(refused.json(), 422) == []


def test_laml_date_filters_are_rfc_2822(filled: Space) -> None:
    after = format_datetime(datetime(2026, 11, 2, 0, 3, tzinfo=UTC))  # main.tsp lines 32-40
    page = laml(filled, **{"DateCreated>": after}).json()
    assert len(page["recordings"]) == 3
    assert laml(filled, **{"DateCreated>": "2026-11-02T00:03:00Z"}).status_code == 400


@pytest.mark.parametrize("code", EXPIRED_TOKEN_CODES)
def test_an_expired_page_token_answers_400_with_a_code_from_signalwires_list(filled: Space, code: int) -> None:
    """No code is documented for it: the switch plays 10000 "The argument passed is invalid" or 20001 "An unknown
    error occurred" (error-codes.mdx 25-27, 159-162); Twilio's own meaning of 20001 is not SignalWire's."""
    filled.listing.expired_token_code = code
    first = laml(filled, PageSize=3).json()
    filled.listing.expire_tokens()
    expired = laml(filled, first["next_page_uri"])
    check_error(expired, 400)
    assert expired.json()["code"] == code


def test_relay_pages_carry_links_and_data(filled: Space) -> None:
    page = relay(filled, page_size=3).json()
    assert set(page) == {"links", "data"}  # relay-rest/recordings/models/responses.tsp lines 6-13
    count = 0
    while True:
        links = page["links"]
        assert RELAY_LINKS_REQUIRED <= set(links) <= RELAY_LINKS_REQUIRED | RELAY_LINKS_OPTIONAL
        assert all(isinstance(link, str) for link in links.values())
        assert ("prev" in links) == (count > 0)
        count += len(page["data"])
        if "next" not in links:
            break
        page = relay(filled, links["next"]).json()
    assert count == 7


@pytest.mark.parametrize("status", [401, 404, 422, 500])  # relay-rest/recordings/main.tsp lines 25-30
def test_relay_list_errors_are_the_documented_ones(space: Space, status: int) -> None:
    space.fault("*", "relay-list", Fault(status))
    answer = relay(space)
    assert answer.status_code == status and relay_error_violations(answer.json(), status) == []


def test_every_laml_error_has_the_documented_shape(filled: Space) -> None:
    """401 (bad credentials), 404 (an unknown recording), 400 (a bad filter, an expired page token): each is a
    CompatibilityErrorResponse (errors.tsp 4-20; main.tsp lists 400, 401 and 404 for these paths)."""
    base = f"{filled.url}/api/laml/2010-04-01/Accounts/{filled.project_id}/Recordings"
    check_error(requests.get(f"{base}.json", auth=(filled.project_id, "wrong"), timeout=10), 401)
    check_error(
        requests.get(f"{base}/00000000-0000-4000-8000-000000000000.json", auth=(filled.project_id, TOKEN), timeout=10),
        404,
    )
    check_error(laml(filled, **{"DateCreated>": "2026-11-02T00:03:00Z"}), 400)
    first = laml(filled, PageSize=3).json()
    filled.listing.expire_tokens()
    check_error(laml(filled, first["next_page_uri"]), 400)
