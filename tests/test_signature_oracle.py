"""Our signature check against SignalWire's own validator (signalwire-sdk, a test-only dependency) as an oracle.

Random keys, URLs and bodies, signed the ways SignalWire signs (and a few ways it does not): whatever
SignalWire's validator accepts, ours accepts, and the reverse. Three things are kept out of the
comparison on purpose, each said where it is done: URL fragments (we also try the URL without one, as
whether SignalWire signs `#rt=` is unconfirmed), repeated form field names (SignalWire never sends
them; the two sort them differently), and the bare-URL form signature without `bodySHA256`, which
SignalWire's validator accepts for any body and ours refuses (test_bare_url_signature_is_refused...).
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from signalwire.core.security.webhook_validator import validate_webhook_signature

from archiver import signature

_SAFE = string.ascii_letters + string.digits + "-_.~"
keys = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=40)
hosts = st.sampled_from(["fn.example.com", "archiver-abc.a.run.app", "127.0.0.1", "example.ngrok.io"])
ports = st.sampled_from([None, "default", 8443])
segments = st.lists(st.text(alphabet=_SAFE, min_size=1, max_size=12), max_size=3)
queries = st.dictionaries(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8), st.text(_SAFE), max_size=3)
values = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
# Unique names: SignalWire never repeats a field, and the two validators order repeated names differently.
forms = st.dictionaries(st.text(alphabet=string.ascii_letters, min_size=1, max_size=16), values, max_size=8)
json_bodies = st.dictionaries(st.text(max_size=10), st.one_of(values, st.integers(), st.booleans()), max_size=6)
ways = st.sampled_from(
    ["hex", "hex_other_key", "form", "form_port_toggled", "form_tampered", "body_sha256", "body_sha256_wrong", "junk"]
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    host = draw(hosts)
    port = draw(ports)
    netloc = (
        host
        if port is None
        else f"{host}:{443 if scheme == 'https' else 80}"
        if port == "default"
        else f"{host}:{port}"
    )
    path = "/" + "/".join(draw(segments))
    query = draw(queries)
    return f"{scheme}://{netloc}{path}" + (f"?{urlencode(query)}" if query else "")


def toggle_port(url: str) -> str:
    return next((c for c in signature.candidate_urls(url) if c != url), url)


def ours(key: str, sig: str, url: str, body: bytes, fields: list[tuple[str, str]] | None) -> bool:
    expected = lambda k: signature.expected_signatures(k, url, body, fields)  # noqa: E731
    return signature.matching_key([key], sig, expected) is not None


def signed(way: str, key: str, url: str, body: bytes, fields: list[tuple[str, str]] | None) -> tuple[str, str]:
    """(the URL the request arrives at, the signature it carries)."""
    if way == "hex":
        return url, signature.compute_hex(key, url, body)
    if way == "hex_other_key":
        return url, signature.compute_hex(key + "x", url, body)
    if way in ("form", "form_port_toggled", "form_tampered"):
        target = toggle_port(url) if way == "form_port_toggled" else url
        pairs = (fields or []) + ([("Injected", "1")] if way == "form_tampered" else [])
        return url, signature.compute(key, target, pairs)
    if way in ("body_sha256", "body_sha256_wrong"):
        digest = hashlib.sha256(body + (b"!" if way == "body_sha256_wrong" else b"")).hexdigest()
        with_hash = f"{url}{'&' if '?' in url else '?'}bodySHA256={digest}"
        return with_hash, signature.compute(key, with_hash, ())
    return url, "not-a-signature"


def compare(way: str, key: str, url: str, body: bytes, fields: list[tuple[str, str]] | None) -> None:
    arrived_at, sig = signed(way, key, url, body, fields)
    theirs = validate_webhook_signature(key, sig, arrived_at, body.decode())
    assert ours(key, sig, arrived_at, body, fields) == theirs, (way, arrived_at, body, sig)


@settings(max_examples=300, deadline=None)
@given(key=keys, url=urls(), form=forms, way=ways)
def test_form_bodies_agree_with_signalwire(key: str, url: str, form: dict[str, str], way: str) -> None:
    fields = list(form.items())
    compare(way, key, url, urlencode(fields).encode(), fields)


@settings(max_examples=300, deadline=None)
@given(key=keys, url=urls(), document=json_bodies, way=ways.filter(lambda w: not w.startswith("form")))
def test_json_bodies_agree_with_signalwire(key: str, url: str, document: dict[str, Any], way: str) -> None:
    compare(way, key, url, json.dumps(document).encode(), None)


def test_bare_url_signature_is_refused_where_signalwire_sdk_accepts_it() -> None:
    """The deliberate difference: one signed URL must not vouch for any body."""
    key, url = "PSK_oracle", "https://fn.example.com/archive_recording"
    body = b"RecordingSid=6bfbbe86-a901-4197-8759-2a0de1fa319d&RecordingStatus=completed"
    sig = signature.compute(key, url, ())
    assert validate_webhook_signature(key, sig, url, body.decode())
    fields = [("RecordingSid", "6bfbbe86-a901-4197-8759-2a0de1fa319d"), ("RecordingStatus", "completed")]
    assert not ours(key, sig, url, body, fields)
    assert not ours(key, sig, url, b'{"event_type": "calling.call.record"}', None)
