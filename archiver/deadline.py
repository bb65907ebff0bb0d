"""Wall-clock deadlines on HTTP exchanges: a watchdog cuts the connection of a request whose time is up.

Socket timeouts only bound the gap between bytes, so a peer that trickles a byte now and then could
hold a request forever. Here every exchange gets an allowance, extended by what it has received at
`MIN_RATE`; past the allowance it must also keep up `MIN_RATE` over every window, so a fast
start cannot buy a long stall. A single watchdog thread shuts down the sockets of any exchange that
falls behind. Connections are never reused across exchanges, so a cut can only land on its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# A transfer must average this rate to earn time beyond its allowance; a 1 GiB recording earns 68 min.
MIN_RATE = 256 * 1024
# The window over which the rate is judged follows the allowance (the budget says how long a stall
# may last), within these bounds.
RATE_WINDOW_S = (5.0, 30.0)
_TICK_S = 0.1


class Exchange:
    """One request and its body: how long it may take, and the sockets it uses."""

    def __init__(self, allowance_s: float) -> None:
        self.started = time.monotonic()
        self.allowance_s = allowance_s
        self.received = 0
        self.expired = False
        # Set per request: the connection must then lead to a globally routable address.
        self.public_peer_only = False
        self._window: tuple[float, int] | None = None
        self._window_s = min(max(allowance_s, RATE_WINDOW_S[0]), RATE_WINDOW_S[1])
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def deadline(self) -> float:
        return self.started + self.allowance_s + self.received / MIN_RATE

    def overdue(self, now: float) -> bool:
        """Past its deadline, or, once its allowance is spent, slower than MIN_RATE over the last window."""
        if now >= self.deadline:
            return True
        if now < self.started + self.allowance_s:
            return False
        if self._window is None:
            self._window = (now, self.received)
            return False
        since, received_then = self._window
        if now - since < self._window_s:
            return False
        self._window = (now, self.received)
        return self.received - received_then < MIN_RATE * self._window_s

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _cut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.expired or self._done:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._sockets.clear()


class ForbiddenPeer(Exception):
    """A connection reached an address this request may not talk to (loopback, private, link-local, metadata)."""


# IPv6 ranges that carry an IPv4 address in their last 32 bits, which a translator or tunnel may deliver to:
# IPv4-compatible (deprecated), SIIT's IPv4-translated, and NAT64's well-known prefix.
_EMBEDDING_IPV4 = tuple(ipaddress.IPv6Network(net) for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96"))
# Never global, though Python 3.11's tables call them so: NAT64's local-use prefix, and site-local (deprecated).
_NOT_GLOBAL = tuple(ipaddress.IPv6Network(net) for net in ("64:ff9b:1::/48", "fec0::/10"))


def is_public(text: str) -> bool:
    """True for a globally routable address: not loopback, private, link-local (the metadata server's
    169.254.169.254 included), shared, reserved or multicast. An IPv6 address that carries an IPv4 one
    (mapped, compatible, translated, NAT64, 6to4) is judged by that IPv4 address as well."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in net for net in _NOT_GLOBAL):
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in net for net in _EMBEDDING_IPV4):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(str(embedded)):
            return False
    return address.is_global and not address.is_multicast


def check_peer(sock: socket.socket) -> None:
    """Refuse a socket connected to an address that is not public, before a byte is sent on it."""
    peer = str(sock.getpeername()[0])
    if not is_public(peer):
        _cut(sock)
        sock.close()
        raise ForbiddenPeer(f"connected to {peer}, an address that is not public")


def _cut(sock: socket.socket) -> None:
    # shutdown() wakes a thread blocked in recv() on this socket; close() alone would not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._active: set[Exchange] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._active.add(exchange)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline-watchdog", daemon=True)
                self._thread.start()

    def remove(self, exchange: Exchange) -> None:
        with self._lock:
            self._active.discard(exchange)

    def _run(self) -> None:
        while True:
            time.sleep(_TICK_S)
            now = time.monotonic()
            with self._lock:
                due = [exchange for exchange in self._active if exchange.overdue(now)]
            for exchange in due:
                exchange.expire()


_watchdog = _Watchdog()
_local = threading.local()


def _stack() -> list[Exchange]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    stack: list[Exchange] = _local.stack
    return stack


@contextlib.contextmanager
def limit(allowance_s: float) -> Iterator[Exchange]:
    """Requests made by this thread inside the block are cut once the exchange passes its deadline."""
    exchange = Exchange(allowance_s)
    stack = _stack()
    stack.append(exchange)
    _watchdog.add(exchange)
    try:
        yield exchange
    finally:
        stack.remove(exchange)
        _watchdog.remove(exchange)
        exchange.finish()


def _watch(sock: socket.socket | None) -> None:
    stack = _stack()
    if sock is not None and stack:
        stack[-1].attach(sock)
        if stack[-1].public_peer_only:
            check_peer(sock)


class _Watched:
    """Registers a connection's socket with the current exchange: when it is made, and on every reuse."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose connections answer to `limit()`, one connection per request.

    urllib3 returns a connection to its pool as soon as a body is read, before the exchange that
    read it has finished; reused, a cut meant for the old exchange could truncate the next one.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        request.headers["Connection"] = "close"
        return super().send(request, *args, **kwargs)
