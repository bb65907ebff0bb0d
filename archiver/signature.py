"""Verify `X-SignalWire-Signature`: the form scheme, the hex JSON scheme and `bodySHA256`, over several keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute(key: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(key, url + name1 + value1 + name2 + value2 ...)), fields sorted by name."""
    payload = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def compute_hex(key: str, url: str, body: bytes) -> str:
    """hex(HMAC-SHA1(key, url + raw body)): how SignalWire signs JSON bodies."""
    return hmac.new(key.encode(), url.encode() + body, hashlib.sha1).hexdigest()


def without_fragment(url: str) -> list[str]:
    """The URL as given and, when it has one, without its `#` fragment.

    Whether a `#rt=` timeout fragment is part of the signed URL is unconfirmed, so both spellings count.
    """
    return [url, url.split("#", 1)[0]] if "#" in url else [url]


def candidate_urls(url: str) -> list[str]:
    """The URL as given, with the default port toggled, and without any `#` fragment.

    SignalWire's validators try the form scheme with and without the default port.
    """
    out: list[str] = []
    for base in without_fragment(url):
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


def _body_hash(url: str, body: bytes) -> bool | None:
    """None when the URL carries no `bodySHA256`; else whether it is the raw body's SHA-256."""
    try:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    except ValueError:
        return False
    claimed = query.get("bodySHA256")
    if claimed is None:
        return None
    return hmac.compare_digest(hashlib.sha256(body).hexdigest().encode(), claimed.strip().lower().encode())


def expected_signatures(key: str, url: str, body: bytes, fields: Sequence[tuple[str, str]] | None) -> list[str]:
    """Every signature SignalWire may have sent with this key, as its own validators accept them.

    - hex over URL + raw body (JSON bodies; SignalWire's validators take it for any body);
    - the form scheme over each spelling of the URL plus `fields` (a form POST's fields, or none for a GET,
      whose fields are already in the URL); `fields=None` for a body that is not a form;
    - the form scheme over the URL alone, only when the URL's `bodySHA256` is the raw body's SHA-256.
      SignalWire's own validator also takes that bare-URL signature without `bodySHA256`, which would let
      one signed URL vouch for any body: it is not accepted here.
    A URL whose `bodySHA256` is not the body's hash admits no form-scheme signature at all.
    """
    expected = [compute_hex(key, candidate, body) for candidate in without_fragment(url)]
    body_hash = _body_hash(url, body)
    if fields is not None and body_hash is not False:
        expected += [compute(key, candidate, fields) for candidate in candidate_urls(url)]
    if body_hash:
        expected += [compute(key, candidate, ()) for candidate in candidate_urls(url)]
    return expected


def matching_key(keys: Sequence[str], signature: str | None, expected: Callable[[str], list[str]]) -> int | None:
    """The 1-based position of the key whose `expected(key)` signatures include `signature`, or None.

    Every key and every spelling is compared, in constant time, so the time taken does not tell which
    key (or whether any) matched. No key or no signature never matches.
    """
    if not keys or not signature:
        return None
    given = signature.strip().encode()
    found: int | None = None
    for position, key in enumerate(keys, start=1):
        matched = False
        for candidate in expected(key):
            matched |= hmac.compare_digest(candidate.encode(), given)
        if matched and found is None:
            found = position
    return found
