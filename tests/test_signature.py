"""Signature verification against the published vectors, and every way it must refuse."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pytest

from archiver import signature


def is_valid(key: str | None, url: str, fields: Iterable[tuple[str, str]], sig: str | None) -> bool:
    """A form POST's check with one key, as the webhook makes it."""
    pairs = list(fields)
    keys = [key] if key else []
    return signature.matching_key(keys, sig, lambda k: signature.expected_signatures(k, url, b"", pairs)) is not None


TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_FIELDS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
# A real SignalWire call-status callback, from the signalwire 2.1.1 package's validator tests.
SIGNALWIRE_URL = "https://675d-189-71-169-171.ngrok-free.app/voice"
SIGNALWIRE_KEY = "PSK_V3bF8oyeRNpJWGoRWHNYQMUU"
SIGNALWIRE_FIELDS = {
    "CallSid": "a97d4e8a-6047-4e2b-be48-fb96b33b5642",
    "AccountSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
    "ApiVersion": "2010-04-01",
    "Direction": "outbound-api",
    "From": "sip:+17063958228@sip.swire.io",
    "To": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
    "Timestamp": "Thu, 09 Nov 2023 14:40:55 +0000",
    "CallStatus": "no-answer",
    "CallbackSource": "call-progress-events",
    "HangupDirection": "outbound",
    "HangupBy": "sip:+17063958228@sip.swire.io",
    "SipResultCode": "487",
}


def test_published_vector_without_port() -> None:
    assert signature.compute("12345", TWILIO_URL, TWILIO_FIELDS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_published_vector_with_default_port() -> None:
    url = TWILIO_URL.replace(".com/", ".com:443/")
    assert signature.compute("12345", url, TWILIO_FIELDS.items()) == "kvajT1Ptam85bY51eRf/AJRuM3w="


def test_real_signalwire_callback_vector() -> None:
    sig = "muUMpldcBHlzuXGZ5gbw1ETZCYA="
    assert is_valid(SIGNALWIRE_KEY, SIGNALWIRE_URL, SIGNALWIRE_FIELDS.items(), sig)


@pytest.mark.parametrize(
    ("url", "sig"),
    [
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443, configured without
        (TWILIO_URL.replace(".com/", ".com:443/"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # the reverse
    ],
)
def test_default_port_is_tried_both_ways(url: str, sig: str) -> None:
    assert is_valid("12345", url, TWILIO_FIELDS.items(), sig)


def test_fragment_is_accepted_signed_or_not() -> None:
    url = "https://fn.example.com/cb#rt=15000"
    fields = {"RecordingSid": "x"}.items()
    assert is_valid("k", url, fields, signature.compute("k", url, fields))
    assert is_valid("k", url, fields, signature.compute("k", "https://fn.example.com/cb", fields))


def test_candidates_for_http_and_custom_ports() -> None:
    assert signature.candidate_urls("http://h/x") == ["http://h/x", "http://h:80/x"]
    assert signature.candidate_urls("http://h:8080/x") == ["http://h:8080/x"]


@pytest.mark.parametrize(
    ("key", "fields", "sig"),
    [
        ("12346", TWILIO_FIELDS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # wrong key
        ("12345", {**TWILIO_FIELDS, "Digits": "9999"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # tampered field
        ("12345", {**TWILIO_FIELDS, "Extra": "1"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # added field
        ("12345", TWILIO_FIELDS, ""),  # missing signature
        ("12345", TWILIO_FIELDS, None),
        ("", TWILIO_FIELDS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # no key configured: fail closed
        (None, TWILIO_FIELDS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ],
)
def test_refuses(key: str | None, fields: dict[str, str], sig: str | None) -> None:
    assert not is_valid(key, TWILIO_URL, fields.items(), sig)


def test_other_path_or_scheme_is_refused() -> None:
    sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert not is_valid("12345", TWILIO_URL.replace("https", "http"), TWILIO_FIELDS.items(), sig)
    assert not is_valid("12345", TWILIO_URL.replace("myapp", "other"), TWILIO_FIELDS.items(), sig)


# --- JSON bodies: the hex scheme, and bodySHA256 ---------------------------------------------------

HEX_KEY = "PSKtest1234567890abcdef"
HEX_URL = "https://example.ngrok.io/webhook"
HEX_BODY = b'{"event":"call.state","params":{"call_id":"abc-123","state":"answered"}}'


def json_position(keys: list[str], url: str, body: bytes, sig: str | None) -> int | None:
    return signature.matching_key(keys, sig, lambda k: signature.expected_signatures(k, url, body, None))


def test_published_hex_vector() -> None:
    assert signature.compute_hex(HEX_KEY, HEX_URL, HEX_BODY) == "c3c08c1fefaf9ee198a100d5906765a6f394bf0f"
    assert json_position([HEX_KEY], HEX_URL, HEX_BODY, "c3c08c1fefaf9ee198a100d5906765a6f394bf0f") == 1


def test_hex_refuses_a_changed_body_or_url() -> None:
    sig = signature.compute_hex(HEX_KEY, HEX_URL, HEX_BODY)
    assert json_position([HEX_KEY], HEX_URL, HEX_BODY.replace(b"answered", b"ended"), sig) is None
    assert json_position([HEX_KEY], HEX_URL + "?x=1", HEX_BODY, sig) is None
    # The form scheme over the URL alone vouches for no body unless the URL carries the body's hash.
    assert json_position([HEX_KEY], HEX_URL, HEX_BODY, signature.compute(HEX_KEY, HEX_URL, ())) is None


def test_body_sha256_url_variant() -> None:
    url = f"{HEX_URL}?bodySHA256={hashlib.sha256(HEX_BODY).hexdigest()}"
    sig = signature.compute(HEX_KEY, url, ())
    assert json_position([HEX_KEY], url, HEX_BODY, sig) == 1
    assert json_position([HEX_KEY], url.replace(".io/", ".io:443/"), HEX_BODY, sig) == 1
    assert json_position([HEX_KEY], url, HEX_BODY + b" ", sig) is None  # the hash no longer matches


def test_every_key_is_tried_and_the_position_reported() -> None:
    keys = ["PSK_old", HEX_KEY, "PSK_spare"]
    sig = signature.compute_hex(HEX_KEY, HEX_URL, HEX_BODY)
    assert json_position(keys, HEX_URL, HEX_BODY, sig) == 2
    assert json_position(["PSK_old", "PSK_spare"], HEX_URL, HEX_BODY, sig) is None
    assert json_position([], HEX_URL, HEX_BODY, sig) is None
