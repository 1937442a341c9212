"""The node's one UDP port: every peer connection's ICE, DTLS and SRTP on a single socket.

Datagrams are sorted by first byte (RFC 7983): STUN goes to the ICE-lite responder, DTLS and
SRTP to the transport bound to the source address. A source address is bound only by a check
that carried the right ufrag, password and fingerprint; anything else gets no answer and is
counted by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import cast

import aioice.ice

from sfu.webrtc.icelite import Address, LiteIceTransport, random_ice_string
from sfu.webrtc.ratelimit import SourceRateLimiter
from sfu.webrtc.stun import UdpDrop, binding_response, parse_check, verify

logger = logging.getLogger(__name__)

CONSENT_POLL_S = 0.5
STUN_RATE_PER_S = 20.0  # per source address; browsers check every ~2 s, aioice every ~5 s
STUN_BURST = 40.0
MAX_STUN_SOURCES = 65536
RECEIVE_BUFFER_BYTES = 4 << 20


class UdpMuxError(RuntimeError):
    """The port could not be bound; the message says which and why."""


class UdpStats:
    """Plain counters, read by /metrics at scrape time."""

    __slots__ = ("checks_answered", "drops")

    def __init__(self) -> None:
        self.checks_answered = 0
        self.drops: dict[UdpDrop, int] = dict.fromkeys(UdpDrop, 0)


def advertised_addresses(configured: Sequence[str], bind: str) -> list[str]:
    """What candidates announce: the configured (e.g. public, NAT 1:1) addresses; else the bind
    address if it is a specific one; else the machine's (loopback if it has no other)."""
    if configured:
        return list(configured)
    if bind not in ("0.0.0.0", "::", ""):
        return [bind]
    return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=":" in bind) or ["127.0.0.1"]


class UdpMux(asyncio.DatagramProtocol):
    def __init__(
        self,
        *,
        bind: str,
        port: int,
        advertised: Sequence[str],
        consent_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bind_host = bind
        self.port = port
        self.advertised = list(advertised)
        self.consent_timeout_s = consent_timeout_s
        self.now = clock
        self.stats = UdpStats()
        self.by_ufrag: dict[str, LiteIceTransport] = {}
        self.by_addr: dict[Address, LiteIceTransport] = {}
        self._limiter = SourceRateLimiter(
            rate_per_s=STUN_RATE_PER_S, burst=STUN_BURST, max_sources=MAX_STUN_SOURCES
        )
        self._transport: asyncio.DatagramTransport | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the port; the announced addresses are resolved now, once aiortc is configured
        (with none configured, they are the machine's)."""
        self.advertised = advertised_addresses(self.advertised, self.bind_host)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, local_addr=(self.bind_host, self.port)
            )
        except OSError as exc:
            why = exc.__cause__ or exc  # uvloop wraps the errno one in "could not bind"
            raise UdpMuxError(
                f"cannot bind UDP {self.bind_host}:{self.port} (SFU_UDP_PORT): {why}"
            ) from exc
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self._watchdog = asyncio.create_task(self._expire_loop())
        logger.info(
            "ICE-lite on UDP %s:%d, announcing %s", self.bind_host, self.port, self.advertised
        )

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for transport in list(self.by_ufrag.values()):
            transport.fail("node stopping")
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (a peer went away): consent expiry handles it."""

    # the transports' side ---------------------------------------------------------------------

    def register(self, transport: LiteIceTransport) -> None:
        ufrag = random_ice_string(16)
        while ufrag in self.by_ufrag:  # 62**16: a repeat is astronomically unlikely
            ufrag = random_ice_string(16)
        transport.iceGatherer.ufrag = ufrag
        self.by_ufrag[ufrag] = transport

    def unregister(self, transport: LiteIceTransport) -> None:
        if self.by_ufrag.get(transport.iceGatherer.ufrag) is transport:
            del self.by_ufrag[transport.iceGatherer.ufrag]
        for address in transport.addresses:
            if self.by_addr.get(address) is transport:
                del self.by_addr[address]

    def bind(self, address: Address, transport: LiteIceTransport) -> None:
        previous = self.by_addr.get(address)
        if previous is not None and previous is not transport:
            previous.addresses.remove(address)  # the address moved to another peer (reuse)
        self.by_addr[address] = transport

    def unbind(self, address: Address) -> None:
        self.by_addr.pop(address, None)

    def sendto(self, data: bytes, address: Address) -> None:
        if self._transport is None:
            raise ConnectionError("UDP port closed")
        self._transport.sendto(data, address)

    def drop_queue_full(self) -> None:
        self.stats.drops[UdpDrop.QUEUE_FULL] += 1

    # the socket's side ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source = cast(Address, addr[:2])  # (host, port); IPv6 adds flow info and scope
        first = data[0] if data else 255
        if first < 4:
            self._stun(data, source)
        elif not (19 < first < 64 or 127 < first < 192):  # neither DTLS nor SRTP (RFC 7983)
            self.stats.drops[UdpDrop.NOT_WEBRTC] += 1
        elif (transport := self.by_addr.get(source)) is None:
            self.stats.drops[UdpDrop.UNKNOWN_ADDRESS] += 1
        else:
            transport.deliver(data, source, self.now())

    def _stun(self, data: bytes, source: Address) -> None:
        drops = self.stats.drops
        now = self.now()
        if not self._limiter.allow(source, now):
            drops[UdpDrop.RATE_LIMITED] += 1
            return
        check = parse_check(data)
        if isinstance(check, UdpDrop):
            drops[check] += 1
            return
        transport = self.by_ufrag.get(check.local_ufrag)
        if transport is None:
            drops[UdpDrop.UNKNOWN_UFRAG] += 1
            return
        refused = verify(
            check, password=transport.password_bytes, remote_ufrag=transport.remote_ufrag
        )
        if refused is not None:
            drops[refused] += 1
            return
        response = binding_response(
            check, source, password=transport.password_bytes, request_size=len(data)
        )
        if isinstance(response, UdpDrop):
            drops[response] += 1
            return
        self.sendto(response, source)
        self.stats.checks_answered += 1
        transport.valid_check(source, check.nominated, now)

    async def _expire_loop(self) -> None:
        """Consent freshness (RFC 7675): a peer whose checks stopped is closed."""
        while True:
            await asyncio.sleep(CONSENT_POLL_S)
            now = self.now()
            for transport in [t for t in self.by_ufrag.values() if t.consent_expired(now)]:
                transport.fail(f"no consent check for {self.consent_timeout_s:.0f} s")
