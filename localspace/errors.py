"""The error bodies the stand-in answers, one shape for each API as SignalWire's spec documents it.

The Compatibility (LaML) API answers CompatibilityErrorResponse (specs/compatibility-api/_shared/errors.tsp
4-20: `code`, `message`, `more_info`, `status`) with a code from SignalWire's own list
(fern/products/compatibility-api/pages/rest-api/core/error-codes.mdx). The RELAY REST API answers the
Types.StatusCodes models its operations name (specs/signalwire-rest/types/status-codes/main.tsp):
`{"error": "Not Found"}` and the like (10-43), or, for 422, ValidationError's `errors` array of
`{detail, status, title, code}` (51-77, "Used by: /api/relay/rest", line 47).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Response

# CompatibilityErrorResponse's example link (compatibility-api/_shared/errors.tsp 13-15).
MORE_INFO = "https://signalwire.com/docs/compatibility-api/reference/errors"
# error-codes.mdx: 10000 "The argument passed is invalid" (25-27), 20003 an authentication error (173-176),
# 20404 "The resource you are trying to access does not exist" (194-197), 20429 too many requests (206-209),
# 20504 "An internal error occurred" (212-215); 20001 "An unknown error occurred" (159-162) for the rest.
INVALID_ARGUMENT = 10000
UNKNOWN_ERROR = 20001
COMPATIBILITY_CODES = {400: INVALID_ARGUMENT, 401: 20003, 404: 20404, 422: INVALID_ARGUMENT, 429: 20429}
# status-codes/main.tsp: the `error` word of each documented status (10-43).
RELAY_WORDS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
}


def compatibility_code(status: int) -> int:
    """The documented code SignalWire's Compatibility API would give an error of this HTTP status."""
    return COMPATIBILITY_CODES.get(status, 20504 if status >= 500 else UNKNOWN_ERROR)


def compatibility(status: int, message: str, code: int | None = None, retry_after: str | None = None) -> Response:
    """A CompatibilityErrorResponse; `code` when a switch chooses one, else the documented one for `status`."""
    body = {"code": code or compatibility_code(status), "message": message, "more_info": MORE_INFO, "status": status}
    return _answer(status, body, retry_after)


def relay(status: int, message: str, retry_after: str | None = None) -> Response:
    """A RELAY REST error: ValidationError for 422, `{"error": word}` otherwise (a status the spec does not
    model, such as a scripted 429 or 503, gets its HTTP reason phrase, in the same shape)."""
    body: dict[str, Any]
    if status == 422:
        item = {"detail": message, "status": "422", "title": "Invalid Attribute", "code": "422"}
        body = {"errors": [item]}
    else:
        body = {"error": RELAY_WORDS.get(status) or HTTPStatus(status).phrase}
    return _answer(status, body, retry_after)


def answer(api: str, status: int, message: str, retry_after: str | None = None) -> Response:
    """The error `api` ("laml" or "relay") answers."""
    if api == "relay":
        return relay(status, message, retry_after)
    return compatibility(status, message, retry_after=retry_after)


def _answer(status: int, body: dict[str, Any], retry_after: str | None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response
