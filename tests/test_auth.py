"""The private entry points' caller check, with google-auth's real verifier and no call to Google.

Why this way: the check fetches the signer's public keys from a certificates URL, then google-auth's
`jwt.decode` checks the RS256 signature, expiry and audience. Nobody can sign with Google's keys, so
the test makes its own RSA key, signs tokens with it, and publishes its public half from a
loopback HTTP server given as `certs_url`: the verifier's whole code path runs (HTTP fetch,
signature, claims) exactly as in production, where only the URL differs.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from archiver.auth import CertCache, CertsUnavailable, InvokerCheck, Unauthorized
from archiver.webhook import handle_sweep, handle_task
from tests.helpers import Harness, audit_lines, import_main

AUDIENCE = "https://region-test-project.cloudfunctions.net/archive-task"
CALLER = "tasks-invoker@test-project.iam.gserviceaccount.com"


def new_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class CertsServer:
    """Publishes {key id: public key PEM} as Google's certificate endpoint does; counts fetches.

    It can misbehave: answer another `status`, send `garbage` as a 200, `trickle_s` one byte at a time,
    or hold every answer until `release` is set.
    """

    def __init__(self, certs: dict[str, str]) -> None:
        self.certs = certs
        self.fetches = 0
        self.status = 200
        self.garbage: bytes | None = None
        self.trickle_s: float | None = None
        self.release = threading.Event()
        self.release.set()
        self.cut_off = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                server.release.wait(60)
                body = server.garbage if server.garbage is not None else json.dumps(server.certs).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.trickle_s is None:
                    self.wfile.write(body)
                    return
                try:
                    for offset in range(len(body)):
                        self.wfile.write(body[offset : offset + 1])
                        self.wfile.flush()
                        time.sleep(server.trickle_s)
                except OSError:
                    server.cut_off.set()

            def log_message(self, *_args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oauth2/v1/certs"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[bytes, bytes]]:
    return {"google": new_key(), "attacker": new_key()}


@pytest.fixture
def certs(keys: dict[str, tuple[bytes, bytes]]) -> Iterator[CertsServer]:
    server = CertsServer({"kid-1": keys["google"][1].decode()})
    yield server
    server.stop()


Sign = Callable[..., str]


@pytest.fixture
def sign(keys: dict[str, tuple[bytes, bytes]]) -> Sign:
    def make(key: str = "google", **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "email": CALLER,
            "email_verified": True,
            "sub": "1234567890",
            "iat": now,
            "exp": now + 3600,
        }
        payload.update(claims)
        signer = crypt.RSASigner.from_string(keys[key][0], key_id="kid-1")
        token: bytes = jwt.encode(signer, payload)
        return token.decode()

    return make


def test_a_token_of_the_expected_caller_is_accepted_and_keys_are_fetched_once(certs: CertsServer, sign: Sign) -> None:
    check = InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url))
    for _ in range(3):
        assert check.verify(f"Bearer {sign()}")["email"] == CALLER
    assert certs.fetches == 1


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (lambda sign: None, "no bearer token"),
        (lambda sign: f"Basic {sign()}", "no bearer token"),
        (lambda sign: "Bearer ", "no bearer token"),
        (lambda sign: "Bearer not.a.token", "token rejected"),
        (lambda sign: f"Bearer {sign(aud='https://other.example.com/')}", "token rejected"),
        (lambda sign: f"Bearer {sign(exp=int(time.time()) - 60, iat=int(time.time()) - 3660)}", "token rejected"),
        (lambda sign: f"Bearer {sign(key='attacker')}", "token rejected"),
        (lambda sign: f"Bearer {sign(iss='https://evil.example.com')}", "not issued by Google"),
        (lambda sign: f"Bearer {sign(email='someone@test-project.iam.gserviceaccount.com')}", "not the expected"),
        (lambda sign: f"Bearer {sign(email_verified=False)}", "not the expected"),
        (lambda sign: f"Bearer {'a' * 9000}", "too long"),
    ],
    ids=["none", "basic", "empty", "garbage", "audience", "expired", "forged", "issuer", "email", "unverified", "huge"],
)
def test_anything_else_is_refused(
    certs: CertsServer, sign: Sign, header: Callable[[Sign], str | None], reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url)).verify(header(sign))


def test_unreachable_keys_are_not_a_refusal(certs: CertsServer, sign: Sign) -> None:
    certs.status = 500
    with pytest.raises(CertsUnavailable):
        InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url)).verify(f"Bearer {sign()}")


def test_a_trickling_endpoint_is_cut_at_one_wall_clock_deadline(certs: CertsServer, sign: Sign) -> None:
    """A byte every 50 ms never trips a per-read timeout; the document would take half a minute."""
    certs.trickle_s = 0.05
    check = InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url, deadline_s=0.5))
    with pytest.raises(CertsUnavailable, match="deadline passed"):
        check.verify(f"Bearer {sign()}")
    assert certs.cut_off.wait(30), "the connection was not cut before the document was sent"


def verify_at_once(check: InvokerCheck, token: str, certs: CertsServer, callers: int = 8) -> list[str]:
    """`callers` threads verify `token` while the endpoint holds its first answer; what each got."""
    certs.release.clear()
    results: list[str] = []

    def call() -> None:
        try:
            results.append(str(check.verify(token)["email"]))
        except CertsUnavailable:
            results.append("unavailable")

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        if certs.fetches:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # the others pile up behind the fetch in flight
    certs.release.set()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_requests_share_one_fetch(certs: CertsServer, sign: Sign) -> None:
    check = InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url))
    assert verify_at_once(check, f"Bearer {sign()}", certs) == [CALLER] * 8
    assert certs.fetches == 1


def test_concurrent_requests_share_one_failure(certs: CertsServer, sign: Sign) -> None:
    certs.status = 500
    check = InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url))
    assert verify_at_once(check, f"Bearer {sign()}", certs) == ["unavailable"] * 8
    assert certs.fetches == 1


def test_the_last_good_keys_serve_while_the_endpoint_fails(certs: CertsServer, sign: Sign) -> None:
    cache = CertCache(certs.url, ttl_s=0.0, retry_s=0.0)
    check = InvokerCheck(AUDIENCE, CALLER, cache)
    token = f"Bearer {sign()}"
    assert check.verify(token)["email"] == CALLER
    certs.status = 500
    assert check.verify(token)["email"] == CALLER
    certs.status, certs.garbage = 200, b"<html>sorry</html>"
    assert check.verify(token)["email"] == CALLER
    certs.garbage = json.dumps({"kid-1": "not a key"}).encode()
    assert check.verify(token)["email"] == CALLER
    assert certs.fetches == 4
    cache.stale_s = 0.0  # kept only so long
    with pytest.raises(CertsUnavailable):
        check.verify(token)


@pytest.mark.parametrize(
    "garbage",
    [b"<html>sorry</html>", b"{}", b'{"kid-1": "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n"}'],
    ids=["html", "empty", "bad-key"],
)
def test_a_bad_answer_is_unavailable_never_unauthorised_and_never_kept(
    certs: CertsServer, sign: Sign, garbage: bytes
) -> None:
    certs.garbage = garbage
    check = InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url, retry_s=0.0))
    with pytest.raises(CertsUnavailable, match="unusable answer"):
        check.verify(f"Bearer {sign()}")
    certs.garbage = None
    assert check.verify(f"Bearer {sign()}")["email"] == CALLER


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: Any) -> int:
        raise AssertionError("the body was read before the caller was verified")


def test_deployed_private_entry_points_refuse_before_reading_anything(
    make_harness: Callable[..., Harness], certs: CertsServer, sign: Sign, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = make_harness(K_SERVICE="archive-task")
    harness = Harness(
        deployed.space, deployed.store, deployed.settings, invoker=InvokerCheck(AUDIENCE, CALLER, CertCache(certs.url))
    )
    rec = harness.space.add()
    capsys.readouterr()
    forged = {"Authorization": f"Bearer {sign(key='attacker')}"}
    for handler in (handle_task, handle_sweep):
        for headers in ({}, forged):
            reply = handler(harness.service, "POST", headers, io.BufferedReader(Untouchable()))
            assert reply.status == 403
            assert reply.body["reason"].startswith("caller not authorized")
    lines = audit_lines(capsys.readouterr().out)
    assert [(line["severity"], line["http_status"]) for line in lines] == [("WARNING", 403)] * 4
    assert harness.space.count() == 0

    good = {"Authorization": f"Bearer {sign()}"}
    body = json.dumps({"recording_sid": rec.sid, "source": "callback"}).encode()
    assert handle_task(harness.service, "POST", good, io.BytesIO(body)).body["outcome"] == "archived"

    # deployed without INVOKER_*: nobody gets in
    reply = handle_task(deployed.service, "POST", good, io.BytesIO(body))
    assert reply.status == 403
    assert "INVOKER_AUDIENCE" in reply.body["reason"]


def test_locally_no_token_is_needed(harness: Harness) -> None:
    rec = harness.space.add()
    body = json.dumps({"recording_sid": rec.sid, "source": "sweep"}).encode()
    assert handle_task(harness.service, "POST", {}, io.BytesIO(body)).body["outcome"] == "archived"


def test_a_deployed_private_function_without_its_caller_fails_at_startup() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKER_", "TASKS_"))}
    env |= {
        "SIGNALWIRE_SPACE_URL": "https://example.signalwire.com",
        "SIGNALWIRE_PROJECT_ID": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
        "SIGNALWIRE_API_TOKEN": "x",
        "ARCHIVE_URI": "gs://startup-check",
        "K_SERVICE": "archive-task",
        "FUNCTION_TARGET": "archive_task",
        "INVOKER_SERVICE_ACCOUNT": CALLER,
    }
    result = import_main(env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "configuration error: INVOKER_AUDIENCE is not set: a deployed private entry point verifies its caller's token"
    )
