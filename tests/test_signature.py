"""Signature verification against the published vectors, and every way it must refuse."""

from __future__ import annotations

import pytest

from archiver import signature

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
    assert signature.is_valid(SIGNALWIRE_KEY, SIGNALWIRE_URL, SIGNALWIRE_FIELDS.items(), sig)


@pytest.mark.parametrize(
    ("url", "sig"),
    [
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443, configured without
        (TWILIO_URL.replace(".com/", ".com:443/"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # the reverse
    ],
)
def test_default_port_is_tried_both_ways(url: str, sig: str) -> None:
    assert signature.is_valid("12345", url, TWILIO_FIELDS.items(), sig)


def test_fragment_is_accepted_signed_or_not() -> None:
    url = "https://fn.example.com/cb#rt=15000"
    fields = {"RecordingSid": "x"}.items()
    assert signature.is_valid("k", url, fields, signature.compute("k", url, fields))
    assert signature.is_valid("k", url, fields, signature.compute("k", "https://fn.example.com/cb", fields))


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
    assert not signature.is_valid(key, TWILIO_URL, fields.items(), sig)


def test_other_path_or_scheme_is_refused() -> None:
    sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert not signature.is_valid("12345", TWILIO_URL.replace("https", "http"), TWILIO_FIELDS.items(), sig)
    assert not signature.is_valid("12345", TWILIO_URL.replace("myapp", "other"), TWILIO_FIELDS.items(), sig)
