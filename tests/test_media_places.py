"""RELAY audio wherever SignalWire puts it, and LaML audio redirected to an object store: credentials only where
they belong, and never a connection to a private address off the space."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from archiver import config
from archiver.deadline import is_public
from archiver.errors import SignalWireError
from archiver.recordings import Recording
from archiver.relay import RelaySource
from archiver.signalwire import Budget, SpaceHttp
from localspace.space import Fault, Space
from tests.helpers import TOKEN, Harness, only_line, stored


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def seen_on(space: Space, url: str) -> list[tuple[str, bool]]:
    """(path, carried an Authorization header) of every request the listener at `url` received."""
    return [(seen.path, seen.has_auth_header) for seen in space.requests if seen.port == port_of(url)]


def test_relay_audio_at_a_presigned_url_elsewhere_is_fetched_without_credentials(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: every recording whose `url` was off the space failed with signalwire_refused."""
    rec = harness.space.add(size=30_000, api="relay", fmt="mp3", media_place="presigned")
    reply = harness.post_event(harness.space.event(rec))
    assert reply.status == 200, reply.body
    assert rec.audio() in stored(harness).values()
    # The store refuses a request carrying credentials (as S3 does); none was sent.
    assert [auth for path, auth in seen_on(harness.space, harness.space.other_host_url)] == [False]
    assert only_line(capsys)["media_host"] == harness.space.other_host_url.removeprefix("http://")


def test_a_host_in_signalwire_media_hosts_receives_the_credentials(
    make_harness: Callable[..., Harness], space: Space
) -> None:
    harness = make_harness(SIGNALWIRE_MEDIA_HOSTS=f"media.example.com, 127.0.0.1:{port_of(space.other_host_url)}")
    rec = harness.space.add(size=30_000, api="relay", media_place="listed")
    assert harness.post_event(harness.space.event(rec)).status == 200
    assert seen_on(harness.space, harness.space.other_host_url) == [(f"/api/v1/recordings/{rec.sid}/download", True)]


def test_a_host_listed_without_a_port_gets_the_credentials_on_its_default_port_only(
    make_harness: Callable[..., Harness], space: Space
) -> None:
    """Before: listing `127.0.0.1` sent the credentials to any port on it (`media.example.com` to :8443 too)."""
    harness = make_harness(SIGNALWIRE_MEDIA_HOSTS="127.0.0.1")
    rec = harness.space.add(size=30_000, api="relay", media_place="listed")
    reply = harness.post_event(harness.space.event(rec))
    assert (reply.status, reply.body["error"]) == (503, "signalwire_refused")
    assert seen_on(harness.space, harness.space.other_host_url) == [(f"/api/v1/recordings/{rec.sid}/download", False)]


def test_a_host_not_listed_never_receives_the_credentials(harness: Harness) -> None:
    rec = harness.space.add(size=30_000, api="relay", media_place="listed")  # a host that wants them
    reply = harness.post_event(harness.space.event(rec))
    assert (reply.status, reply.body["error"]) == (503, "signalwire_refused")  # its 401, not retried
    assert seen_on(harness.space, harness.space.other_host_url) == [(f"/api/v1/recordings/{rec.sid}/download", False)]
    assert stored(harness) == {}


def test_a_relative_media_url_is_joined_with_the_space(harness: Harness) -> None:
    """Before: a relative `url` passed the host check, then failed to fetch."""
    rec = harness.space.add(size=30_000, api="relay", media_place="relative")
    assert harness.post_event(harness.space.event(rec)).status == 200
    assert (f"/api/v1/recordings/{rec.sid}/download", True) in seen_on(harness.space, harness.space.url)
    assert rec.audio() in stored(harness).values()


@pytest.mark.parametrize("api", ["laml", "relay"])
def test_credentials_never_follow_a_redirect_to_an_object_store(harness: Harness, api: str) -> None:
    """The space answers its (authenticated) media URL with a redirect to a presigned store URL, which refuses
    any request carrying an Authorization header."""
    rec = harness.space.add(size=30_000, api=api)
    harness.space.fault(rec.sid, "media", Fault(redirect=True))
    reply = harness.post_event(harness.space.event(rec)) if api == "relay" else harness.post(harness.form(rec.sid))
    assert reply.status == 200, reply.body
    assert [auth for _, auth in seen_on(harness.space, harness.space.other_host_url)] == [False]
    assert rec.audio() in stored(harness).values()


# --- off the space, never a private address: a space that is not on loopback --------------------------------


def _public_space_source(space: Space, **env: str) -> RelaySource:
    settings = config.load(
        {
            "SIGNALWIRE_SPACE_URL": "https://example.signalwire.com",
            "SIGNALWIRE_PROJECT_ID": space.project_id,
            "SIGNALWIRE_API_TOKEN": TOKEN,
            **env,
        }
    )
    return RelaySource(SpaceHttp(settings), settings)


@pytest.mark.parametrize(
    "host",
    # A name, the literal, and the literal in decimal, octal, hex and IPv4-mapped IPv6 forms.
    ["127.0.0.1", "localhost", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]"],
)
def test_a_media_url_leading_to_a_private_address_is_never_asked(space: Space, host: str) -> None:
    """The address checked is the one connected to: a name resolving to loopback (as a rebinding DNS name
    would) is refused like the literal, before a byte of the request is sent; listing the host does not help."""
    # SIGNALWIRE_MEDIA_HOSTS takes host names only, so the IPv6 literal is tried unlisted.
    source = _public_space_source(space, **({} if host.startswith("[") else {"SIGNALWIRE_MEDIA_HOSTS": host}))
    sid = str(uuid.uuid4())
    url = f"https://{host}:{port_of(space.url)}/api/v1/recordings/{sid}/download"
    recording = Recording(b"{}", {"sid": sid, "api": "relay", "url": url})
    with pytest.raises(SignalWireError, match="not public; refused"):
        source.open_media(recording, Budget.of(10))
    assert space.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://media.example.com/rec.mp3",  # clear text off the space
        "https://user:pw@media.example.com/rec.mp3",  # credentials in the URL
        "https://example.signalwire.com/api/v1/recordings/../../admin",  # the space's host, climbing out
        "",
    ],
)
def test_media_urls_refused_without_a_request(space: Space, url: str) -> None:
    source = _public_space_source(space)
    recording = Recording(b"{}", {"sid": str(uuid.uuid4()), "api": "relay", "url": url})
    with pytest.raises(SignalWireError, match="refused"):
        source.open_media(recording, Budget.of(10))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # the metadata server
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),  # noqa: S104 (an address judged, not bound)
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),  # the metadata server over IPv6
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        # IPv6 forms that carry a private IPv4 address a translator or tunnel may deliver to; before, all public.
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 well-known prefix: 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64: 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64: 10.0.0.1
        ("64:ff9b:1::a9fe:a9fe", False),  # NAT64 local-use prefix
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::a9fe:a9fe", False),
        ("::ffff:0:a9fe:a9fe", False),  # SIIT IPv4-translated
        ("fec0::1", False),  # site-local (deprecated)
        ("::ffff:169.254.169.254", False),
        ("fe80::a9fe:a9fe%eth0", False),  # link-local with a zone
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        # Carrying a public IPv4 address stays public.
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
    ],
)
def test_which_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_a_redirect_off_the_space_is_held_to_the_public_address_check(harness: Harness) -> None:
    """The space's own media URL (checked only as the space) redirects to another host on loopback: the hop off the
    space is judged on its connected socket like a first request, so a redirect to the metadata server or a private
    address is refused. The loopback exemption is turned off here, as for a space that is not on loopback."""
    rec = harness.space.add(size=30_000)
    harness.space.fault(rec.sid, "media", Fault(redirect=True))
    http = SpaceHttp(harness.settings)
    http._space_on_loopback = False
    url = (
        f"{harness.settings.space_url}/api/laml/2010-04-01/Accounts/{harness.space.project_id}/Recordings/{rec.sid}.mp3"
    )
    with pytest.raises(SignalWireError, match="not public; refused"):
        http.open_media(url, Budget.of(10), "audio")
    assert seen_on(harness.space, harness.space.url) != []  # the space was asked
    assert seen_on(harness.space, harness.space.other_host_url) == []  # the redirect target never was


@pytest.mark.parametrize(
    ("url", "listed"),
    [
        ("https://media.example.com/rec.mp3", True),
        ("https://MEDIA.Example.COM/rec.mp3", True),
        ("https://media.example.com:443/rec.mp3", True),
        ("https://media.example.com:8443/rec.mp3", False),  # before: True, any port of a listed host
        ("https://media.example.com.evil.net/rec.mp3", False),
        ("https://evil.net/media.example.com/rec.mp3", False),
        ("https://evil.net/?h=media.example.com", False),
        ("https://media.example.com@evil.net/rec.mp3", False),
        ("https://space:secret@media.example.com/rec.mp3", False),
        ("https://media.example.com./rec.mp3", False),
        ("https://xmedia.example.com/rec.mp3", False),
        ("https://other.example.com:9000/rec.mp3", True),
        ("https://other.example.com/rec.mp3", False),
    ],
)
def test_which_media_urls_get_the_credentials(space: Space, url: str, listed: bool) -> None:
    settings = config.load(
        {
            "SIGNALWIRE_SPACE_URL": "https://example.signalwire.com",
            "SIGNALWIRE_PROJECT_ID": space.project_id,
            "SIGNALWIRE_API_TOKEN": TOKEN,
            "SIGNALWIRE_MEDIA_HOSTS": "media.example.com, other.example.com:9000",
        }
    )
    assert SpaceHttp(settings).listed_media_host(url) is listed
