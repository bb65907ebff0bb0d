"""Verify `X-SignalWire-Signature` on form-encoded callbacks (Twilio's HMAC-SHA1 scheme)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute(key: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(key, url + name1 + value1 + name2 + value2 ...)), fields sorted by name."""
    payload = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def candidate_urls(url: str) -> list[str]:
    """The URL as given, with the default port toggled, and without any `#` fragment.

    SignalWire may sign with or without the default port, and whether a `#rt=` timeout
    fragment is part of the signed URL is unconfirmed, so both spellings are accepted.
    """
    bases = [url, url.split("#", 1)[0]] if "#" in url else [url]
    out: list[str] = []
    for base in bases:
        try:
            parts = urlsplit(base)
            port = parts.port
        except ValueError:
            # Not a URL anyone could have signed (a bad port, an unclosed IPv6 bracket): no spellings to add.
            out.append(base)
            continue
        default = _DEFAULT_PORTS.get(parts.scheme)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        userinfo = parts.netloc.rpartition("@")[0]
        prefix = f"{userinfo}@" if userinfo else ""
        if port is None and default:
            toggled = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}"))
        elif port == default:
            toggled = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
        else:
            toggled = base
        for candidate in (base, toggled):
            if candidate not in out:
                out.append(candidate)
    return out


def is_valid(key: str | None, url: str, fields: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """True when `signature` matches any spelling of `url`; no key or no signature is never valid."""
    if not key or not signature:
        return False
    pairs = list(fields)
    expected = signature.strip().encode()
    matched = False
    for candidate in candidate_urls(url):
        # Every candidate is compared so the time taken does not depend on which one matched.
        matched |= hmac.compare_digest(compute(key, candidate, pairs).encode(), expected)
    return matched
