"""Who may call a private entry point: a Google-signed OIDC ID token for one audience and one account."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import google.auth.exceptions
import requests
from google.auth import crypt, jwt

from archiver import deadline
from archiver.errors import ArchiveError
from archiver.logging import get_logger
from archiver.signalwire import read_bounded

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
# Google publishes a new signing key well before it signs with it; five minutes is plenty fresh.
_CERTS_TTL_S = 300.0
# One wall-clock deadline for a whole fetch: connect, headers and body, however slowly they trickle.
_CERTS_DEADLINE_S = 5.0
# After a failed fetch nobody fetches again for this long: a down endpoint costs one deadline, not one per request.
_CERTS_RETRY_S = 5.0
# Google keeps a key published for days after it stops signing with it; the last good set serves this long.
_CERTS_STALE_S = 6 * 3600.0
# Google's document holds two or three certificates of about 1.2 kB.
_CERTS_MAX_BYTES = 64 * 1024
_CERTS_MAX_KEYS = 32
_CLOCK_SKEW_S = 10
_MAX_TOKEN = 8192


class Unauthorized(Exception):
    """The caller's token is missing or does not prove it is the expected account."""


class CertsUnavailable(Exception):
    """Google's signing certificates could not be fetched: nobody can be verified just now."""


def _usable(raw: bytes) -> dict[str, str]:
    """The certificates document as {key id: PEM}, every key loadable; ValueError for anything else."""
    document = json.loads(raw)
    if not isinstance(document, dict) or not 0 < len(document) <= _CERTS_MAX_KEYS:
        raise ValueError("not an object of key ids")
    for kid, pem in document.items():
        if not isinstance(pem, str):
            raise ValueError(f"key {str(kid)[:32]!r} is not a PEM string")
        crypt.RSAVerifier.from_string(pem)  # type: ignore[no-untyped-call]
    return document


@dataclass
class CertCache:
    """Google's signing certificates, fetched by one thread at a time under one wall-clock deadline.

    Concurrent requests wait for the one fetch in flight and share its result, good or bad; a failed or
    unusable answer is never cached as keys: the last good set keeps serving (up to `stale_s`), and
    without one every caller hears "unavailable" (503, retried), never "unauthorised".
    """

    url: str = GOOGLE_CERTS_URL
    ttl_s: float = _CERTS_TTL_S
    deadline_s: float = _CERTS_DEADLINE_S
    retry_s: float = _CERTS_RETRY_S
    stale_s: float = _CERTS_STALE_S
    _certs: dict[str, str] | None = None
    _fetched_at: float = float("-inf")
    _failed_at: float = float("-inf")
    _failure: str = ""
    _flight: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> dict[str, str]:
        if (certs := self._fresh()) is not None:
            return certs
        # Whoever holds this lock is fetching, bounded by its deadline; the rest wait and take its result.
        with self._flight:
            if (certs := self._fresh()) is not None:
                return certs
            now = time.monotonic()
            if now - self._failed_at >= self.retry_s:
                try:
                    self._certs, self._fetched_at = self._fetch(), time.monotonic()
                    return self._certs
                except CertsUnavailable as exc:
                    self._failed_at, self._failure = time.monotonic(), str(exc)
                    kept = "; the last good keys serve meanwhile" if self._certs is not None else ""
                    get_logger().error(f"refreshing Google's signing certificates failed{kept}", error=str(exc))
            if self._certs is not None and now - self._fetched_at < self.stale_s:
                return self._certs
            raise CertsUnavailable(self._failure)

    def _fresh(self) -> dict[str, str] | None:
        certs = self._certs
        return certs if certs is not None and time.monotonic() - self._fetched_at < self.ttl_s else None

    def _fetch(self) -> dict[str, str]:
        what = "Google's signing certificates"
        with requests.Session() as session:
            session.mount("https://", deadline.DeadlineAdapter())
            session.mount("http://", deadline.DeadlineAdapter())
            with deadline.limit(self.deadline_s) as exchange:
                try:
                    response = session.get(self.url, stream=True, timeout=self.deadline_s)
                    with response:
                        if response.status_code != 200:
                            raise CertsUnavailable(f"{what}: HTTP {response.status_code}")
                        raw = read_bounded(response, exchange, _CERTS_MAX_BYTES, what)
                except (requests.RequestException, ArchiveError) as exc:
                    reason = "deadline passed" if exchange.expired else str(exc)[:200]
                    raise CertsUnavailable(f"{what} are unavailable: {reason}") from None
        try:
            return _usable(raw)
        except (ValueError, TypeError, RecursionError) as exc:
            raise CertsUnavailable(f"{what}: unusable answer ({str(exc)[:120]})") from None


@dataclass
class InvokerCheck:
    """Accepts a request only with `Authorization: Bearer <Google ID token>` for `audience`, from `email`."""

    audience: str
    email: str
    certs: CertCache = field(default_factory=CertCache)

    def verify(self, authorization: str | None) -> Mapping[str, Any]:
        """The token's claims; Unauthorized or CertsUnavailable otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        if len(token) > _MAX_TOKEN:
            raise Unauthorized("bearer token too long")
        certs = self.certs.get()
        try:
            # What google-auth's id_token.verify_token does once it has the certificates: RS256, expiry, audience.
            claims: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                token.strip(), certs=certs, audience=self.audience, clock_skew_in_seconds=_CLOCK_SKEW_S
            )
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            # Expired, wrong audience, bad signature, unknown key, malformed: all the same to the caller.
            raise Unauthorized(f"token rejected: {exc}") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise Unauthorized("token not issued by Google")
        if claims.get("email") != self.email or claims.get("email_verified") is not True:
            raise Unauthorized(f"token is for {str(claims.get('email'))[:128]!r}, not the expected account")
        return claims
