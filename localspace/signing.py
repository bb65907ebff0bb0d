"""Callbacks signed as SignalWire signs them: a cXML form, a JSON event or a bare URL, for a URL with a key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from archiver import signature

HEADER = "X-SignalWire-Signature"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Signed:
    """A request ready to send: where it was signed for, its body, and the headers SignalWire would send."""

    url: str
    body: bytes
    signature: str
    content_type: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {HEADER: self.signature}
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return headers


def sign_form(key: str, url: str, fields: Mapping[str, str]) -> Signed:
    """A cXML status callback: base64 HMAC-SHA1 over the URL and the sorted form fields."""
    return Signed(url, urlencode(fields).encode(), signature.compute(key, url, fields.items()), FORM)


def sign_event(key: str, url: str, event: Mapping[str, Any] | bytes) -> Signed:
    """A JSON status event (SWML, RELAY): hex HMAC-SHA1 over the URL and the raw body."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return Signed(url, body, signature.compute_hex(key, url, body), "application/json")


def sign_url(key: str, url: str) -> Signed:
    """A URL signed as it stands, nothing appended: a GET callback, or a JSON body vouched for by `bodySHA256`."""
    return Signed(url, b"", signature.compute(key, url, ()))


def sign_query(key: str, base: str, fields: Mapping[str, str]) -> Signed:
    """A GET callback: the fields in the query string, signed over the full URL."""
    return sign_url(key, f"{base}{'&' if '?' in base else '?'}{urlencode(fields)}")
