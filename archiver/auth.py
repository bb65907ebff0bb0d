"""Who may call a private entry point: a Google-signed OIDC ID token for one audience and one account."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
from google.oauth2 import id_token

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
# Google publishes a new signing key well before it signs with it; five minutes is plenty fresh.
_CERTS_TTL_S = 300.0
_CERTS_TIMEOUT_S = 5.0
_CLOCK_SKEW_S = 10
_MAX_TOKEN = 8192


class Unauthorized(Exception):
    """The caller's token is missing or does not prove it is the expected account."""


class CertsUnavailable(Exception):
    """Google's signing certificates could not be fetched: nobody can be verified just now."""


@dataclass
class _CachingTransport(google.auth.transport.Request):
    """google-auth's HTTP transport for the certificate fetch, bounded in time and cached.

    `verify_token` fetches the certificates on every call; one fetch per few minutes is enough.
    """

    inner: google.auth.transport.Request = field(default_factory=google.auth.transport.requests.Request)
    ttl_s: float = _CERTS_TTL_S
    _cached: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **_kwargs: Any,
    ) -> Any:
        with self._lock:
            hit = self._cached.get(url)
            if hit and time.monotonic() < hit[0]:
                return hit[1]
        response = self.inner(url, method=method, body=body, headers=headers, timeout=_CERTS_TIMEOUT_S)
        if response.status == 200:
            with self._lock:
                self._cached[url] = (time.monotonic() + self.ttl_s, response)
        return response


@dataclass
class InvokerCheck:
    """Accepts a request only with `Authorization: Bearer <Google ID token>` for `audience`, from `email`."""

    audience: str
    email: str
    certs_url: str = GOOGLE_CERTS_URL
    transport: _CachingTransport = field(default_factory=_CachingTransport)

    def verify(self, authorization: str | None) -> Mapping[str, Any]:
        """The token's claims; Unauthorized or CertsUnavailable otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        if len(token) > _MAX_TOKEN:
            raise Unauthorized("bearer token too long")
        try:
            claims = id_token.verify_token(
                token.strip(),
                self.transport,
                audience=self.audience,
                certs_url=self.certs_url,
                clock_skew_in_seconds=_CLOCK_SKEW_S,
            )
        except google.auth.exceptions.TransportError as exc:
            raise CertsUnavailable(f"Google's signing certificates are unavailable: {exc}") from None
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            # Expired, wrong audience, bad signature, unknown key, malformed: all the same to the caller.
            raise Unauthorized(f"token rejected: {exc}") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise Unauthorized("token not issued by Google")
        if claims.get("email") != self.email or claims.get("email_verified") is not True:
            raise Unauthorized(f"token is for {str(claims.get('email'))[:128]!r}, not the expected account")
        return claims
