"""What arrives, read and authenticated: a callback's body, signature or CALLBACK_TOKEN, and a private caller."""

from __future__ import annotations

import hmac
import re
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from archiver import callbacks, signature
from archiver.auth import CertsUnavailable, Unauthorized
from archiver.callbacks import Callback
from archiver.config import Settings
from archiver.logging import Headers
from archiver.recordings import whole_number

if TYPE_CHECKING:
    from archiver.service import Service

MAX_BODY = 64 * 1024
MAX_FIELDS = 256
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
# The query parameter a status_url carries CALLBACK_TOKEN in.
TOKEN_PARAM = "token"  # noqa: S105 (a parameter name, not a secret)
# host[:port] as a proxy may forward it: a DNS name or IPv4 address, or a bracketed IPv6 address.
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?"
)


class Rejected(Exception):
    """A request refused before any work: the HTTP status, the reason and any headers to answer with."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def public_url(settings: Settings, request_url: str, headers: Headers) -> str | None:
    """The URL SignalWire signed: PUBLIC_URL's origin and path, else the request's as the proxy saw it.

    The query string is the request's own, verbatim: a GET callback's fields, a `bodySHA256` or a
    `token` are added to the configured URL's query by SignalWire or the operator. The fallback trusts
    X-Forwarded-* headers, which only a proxy of your own (a local tunnel) makes trustworthy; deployed,
    PUBLIC_URL is required. None when the forwarded host is not a host at all.
    """
    parts = urlsplit(request_url)
    if settings.public_url:
        public = urlsplit(settings.public_url)
        return urlunsplit(public._replace(query=parts.query or public.query))
    scheme = _first(headers.get("X-Forwarded-Proto")) or parts.scheme
    host = _first(headers.get("X-Forwarded-Host")) or parts.netloc
    if scheme not in ("http", "https") or not _HOST_RE.fullmatch(host):
        return None
    return urlunsplit((scheme, host, parts.path, parts.query, ""))


def read_body(headers: Headers, body: IO[bytes]) -> bytes:
    """At most MAX_BODY bytes; a larger body, announced or not, is refused without reading it all."""
    length = whole_number(headers.get("Content-Length") or "")
    if length is not None and length > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    raw = body.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Rejected(413, f"body over {MAX_BODY} bytes")
    return raw


def _content_type(headers: Headers) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _fields(text: bytes | str, where: str) -> list[tuple[str, str]]:
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise Rejected(400, f"{where} body is not valid UTF-8") from None
    try:
        return parse_qsl(decoded, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise Rejected(400, f"more than {MAX_FIELDS} {where} fields") from None


def _token_matches(settings: Settings, url: str) -> bool:
    """True when CALLBACK_TOKEN is set and the request URL carries it as `?token=`, compared in constant time."""
    if not settings.callback_token:
        return False
    given = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get(TOKEN_PARAM, "")
    return hmac.compare_digest(given.encode(), settings.callback_token.encode())


def read_callback(settings: Settings, method: str, url: str, headers: Headers, body: IO[bytes]) -> Callback:
    """Authenticate a callback, then parse it by its shape: a form POST, a GET, or a JSON event.

    Nothing is parsed for meaning before the signature (or, for JSON events only, CALLBACK_TOKEN) checks out.
    """
    if method not in ("GET", "POST"):
        raise Rejected(405, "only GET and POST callbacks are archived", {"Allow": "GET, POST"})
    if not settings.signing_keys and not settings.callback_token:
        raise Rejected(403, "SIGNALWIRE_SIGNING_KEY is not set: every callback is refused")
    signed_url = public_url(settings, url, headers)
    sig = headers.get("X-SignalWire-Signature") or headers.get("X-Twilio-Signature")
    shape: callbacks.Shape
    if method == "GET":
        shape, raw, pairs = "query", b"", _fields(urlsplit(url).query, "query")
        # The fields are in the signed URL already: nothing is appended.
        signed_fields: list[tuple[str, str]] | None = []
    else:
        content_type = _content_type(headers)
        if content_type not in (_FORM, _JSON):
            raise Rejected(415, f"expected {_FORM} or {_JSON}, got {content_type or 'no Content-Type'}")
        raw = read_body(headers, body)
        shape = "form" if content_type == _FORM else "event"
        pairs = _fields(raw, "form") if shape == "form" else []
        signed_fields = pairs if shape == "form" else None
    position = None
    if signed_url is not None:
        position = signature.matching_key(
            settings.signing_keys, sig, lambda key: signature.expected_signatures(key, signed_url, raw, signed_fields)
        )
    # SignalWire's docs disagree on whether status_url events are signed: a URL secret may vouch instead.
    if position is None and not (shape == "event" and _token_matches(settings, url)):
        raise Rejected(403, "signature missing or invalid (is PUBLIC_URL the exact URL set at SignalWire?)")
    try:
        if shape == "event":
            return callbacks.from_event(raw, settings.project_id, position)
        return callbacks.from_fields(dict(pairs), settings.project_id, shape, position)
    except callbacks.Invalid as exc:
        raise Rejected(400, str(exc)) from None


def check_caller(service: Service, headers: Headers) -> None:
    """With INVOKER_* set (required when deployed), a private entry point serves only its one caller's
    Google-signed OIDC token, wherever it runs; without them, only an undeployed process serves anyone."""
    if service.invoker is None:
        if service.settings.deployed:
            raise Rejected(403, "INVOKER_AUDIENCE and INVOKER_SERVICE_ACCOUNT are not set: every caller is refused")
        return
    try:
        service.invoker.verify(headers.get("Authorization"))
    except Unauthorized as exc:
        raise Rejected(403, f"caller not authorized: {str(exc)[:200]}") from None
    except CertsUnavailable as exc:
        raise Rejected(503, str(exc)[:200]) from None
