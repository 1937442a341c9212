"""The node's one UDP port: every peer connection's ICE, DTLS and SRTP on a single socket,
and ICE-TCP (``tcpport``) on one TCP port beside it for clients that cannot use UDP.

The socket belongs to the ``Datapath`` (compiled, batched): it delivers a keyed peer's SRTP to
that peer's media handler itself and hands everything else here, sorted by first byte
(RFC 7983): STUN goes to the ICE-lite responder, DTLS to the transport bound to the source. A
source (an address, or a TCP connection, whose frames reach the same datapath) is bound only by
a check that carried the right ufrag, password and fingerprint; anything else gets no answer
and is counted by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence

import aioice.ice

from sfu.media.counters import PORT_DROPS, DropReason
from sfu.rtp.demux_py import OTHER, STUN
from sfu.rtp.kernels import classify
from sfu.webrtc import libsrtp
from sfu.webrtc.datapath_py import MAX_SEGMENTS, PacketHandler, Source
from sfu.webrtc.icelite import LiteIceTransport, random_ice_string
from sfu.webrtc.kernels import Datapath, Peer
from sfu.webrtc.ratelimit import SourceRateLimiter
from sfu.webrtc.stun import binding_response, parse_check, verify
from sfu.webrtc.tcpport import TcpLink, TcpPort

logger = logging.getLogger(__name__)

CONSENT_POLL_S = 0.5
STUN_RATE_PER_S = 20.0  # per source address; browsers check every ~2 s, aioice every ~5 s
STUN_BURST = 40.0
MAX_STUN_SOURCES = 65536
RECEIVE_BUFFER_BYTES = 4 << 20


class UdpMuxError(RuntimeError):
    """The port could not be bound; the message says which and why."""


def _bound_socket(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking UDP or TCP socket on host:port; with "::", dual-stack (IPv4 peers appear
    as ::ffff:a.b.c.d, in keys, bindings and destinations alike)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        name = "TCP" if kind == socket.SOCK_STREAM else "UDP"
        raise UdpMuxError(f"cannot bind {name} {host}:{port} (SFU_{name}_PORT): {exc}") from exc
    sock.setblocking(False)
    return sock


class UdpStats:
    """Plain counters, read by /metrics at scrape time."""

    __slots__ = ("checks_answered", "drops")

    def __init__(self) -> None:
        self.checks_answered = 0
        self.drops: dict[DropReason, int] = dict.fromkeys(PORT_DROPS, 0)


def advertised_addresses(configured: Sequence[str], bind: str) -> list[str]:
    """What candidates announce: the configured (e.g. public, NAT 1:1) addresses; else the bind
    address if it is a specific one; else the machine's (loopback if it has no other)."""
    if configured:
        return list(configured)
    if bind not in ("0.0.0.0", "::", ""):
        return [bind]
    return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=":" in bind) or ["127.0.0.1"]


class UdpMux:
    """The port: ICE-lite responder, address bindings, and the datapath that owns the socket.

    ``drain_ms`` = 0 reads whenever the socket is readable; > 0 reads on a timer instead, which
    trades that much added delay for fewer wake-ups under load. ``segments``: the most datagrams
    the datapath sends to a peer in one segmented send (1: none). ``tcp_port`` (0: none) adds
    ICE-TCP candidates on that TCP port.
    """

    def __init__(
        self,
        *,
        bind: str,
        port: int,
        advertised: Sequence[str],
        consent_timeout_s: float,
        drain_ms: float = 0.0,
        segments: int = MAX_SEGMENTS,
        tcp_port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        may_read: Callable[[], bool] = lambda: True,
    ) -> None:
        self.bind_host = bind
        self.port = port
        self.tcp_port = tcp_port
        self.tcp: TcpPort | None = None
        self.advertised = list(advertised)
        self.consent_timeout_s = consent_timeout_s
        self.now = clock
        self.stats = UdpStats()
        self.by_ufrag: dict[str, LiteIceTransport] = {}
        self.by_addr: dict[Source, LiteIceTransport] = {}
        self._limiter = SourceRateLimiter(
            rate_per_s=STUN_RATE_PER_S, burst=STUN_BURST, max_sources=MAX_STUN_SOURCES
        )
        self.drain_ms = drain_ms
        self.segments = segments
        self.datapath: Datapath | None = None
        self._sock: socket.socket | None = None
        self._may_read = may_read
        self._held = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Bind the port; the announced addresses are resolved now, once aiortc is configured
        (with none configured, they are the machine's)."""
        self.advertised = advertised_addresses(self.advertised, self.bind_host)
        sock = _bound_socket(self.bind_host, self.port, socket.SOCK_DGRAM)
        try:
            listening = (
                _bound_socket(self.bind_host, self.tcp_port, socket.SOCK_STREAM)
                if self.tcp_port
                else None
            )
        except UdpMuxError:
            sock.close()
            raise
        self._sock = sock
        self.datapath = datapath = Datapath(
            sock,
            slow_path=self.datagram_received,
            may_read=self._may_read,
            libsrtp=libsrtp.functions(),
            pointer_of=libsrtp.session_pointer,
            max_batches=64 if self.drain_ms else 8,
            max_segments=self.segments,
        )
        if self.drain_ms:
            self._tasks.append(asyncio.create_task(self._drain_loop(self.datapath)))
        else:
            asyncio.get_running_loop().add_reader(sock.fileno(), self.datapath.on_readable)
        self._tasks.append(asyncio.create_task(self._expire_loop()))
        if listening is not None:
            self.tcp = TcpPort(
                listening,
                receive=datapath.receive,
                authenticated=lambda link: link in self.by_addr,
                on_lost=self._link_lost,
                clock=self.now,
            )
            await self.tcp.start()
        logger.info(
            "ICE-lite on UDP %s:%d%s, announcing %s",
            self.bind_host,
            self.port,
            f" and TCP {self.tcp_port}" if self.tcp_port else "",
            self.advertised,
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for transport in list(self.by_ufrag.values()):
            transport.fail("node stopping")
        if self.tcp is not None:
            await self.tcp.close()
        if self._sock is not None:
            if not self.drain_ms and not self._held:
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    async def _drain_loop(self, datapath: Datapath) -> None:
        while True:
            if not self._held:
                datapath.on_readable()
            await asyncio.sleep(self.drain_ms / 1000)

    @contextlib.contextmanager
    def sends_batched(self) -> Iterator[None]:
        """What is sent inside (not across an await) leaves at its end in one batch: a tick
        turn's sender reports in one ``sendmmsg`` instead of one each."""
        datapath = self.datapath
        if datapath is None:
            yield
            return
        datapath.hold_sends()
        try:
            yield
        finally:
            datapath.release_sends()

    def hold(self) -> None:
        """Read nothing (datagrams wait in the socket, or are dropped by the kernel when it is
        full) until `release`: no packet is forwarded meanwhile."""
        if self._held or self._sock is None:
            return
        self._held = True
        if not self.drain_ms:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())

    def release(self) -> None:
        if not self._held or self._sock is None or self.datapath is None:
            return
        self._held = False
        if not self.drain_ms:
            loop = asyncio.get_running_loop()
            loop.add_reader(self._sock.fileno(), self.datapath.on_readable)

    # the transports' side ---------------------------------------------------------------------

    def register(self, transport: LiteIceTransport) -> None:
        ufrag = random_ice_string(16)
        while ufrag in self.by_ufrag:  # 62**16: a repeat is astronomically unlikely
            ufrag = random_ice_string(16)
        transport.iceGatherer.ufrag = ufrag
        self.by_ufrag[ufrag] = transport

    def rename(self, transport: LiteIceTransport) -> None:
        """A new ufrag for a live transport (an ICE restart); its addresses stay bound."""
        if self.by_ufrag.get(transport.iceGatherer.ufrag) is transport:
            del self.by_ufrag[transport.iceGatherer.ufrag]
        self.register(transport)

    def unregister(self, transport: LiteIceTransport) -> None:
        if self.by_ufrag.get(transport.iceGatherer.ufrag) is transport:
            del self.by_ufrag[transport.iceGatherer.ufrag]
        for address in transport.addresses:
            if self.by_addr.get(address) is transport:
                self.unbind(address)

    def bind(self, address: Source, transport: LiteIceTransport) -> None:
        previous = self.by_addr.get(address)
        if previous is not None and previous is not transport:
            previous.addresses.remove(address)  # the address moved to another peer (reuse)
        self.by_addr[address] = transport
        if self.datapath is not None:
            if transport.media is not None:
                self.datapath.bind(address, transport.media)
            else:
                self.datapath.unbind(address)

    def unbind(self, address: Source) -> None:
        """Forget a source; a TCP connection is closed: only its transport could use it."""
        self.by_addr.pop(address, None)
        if self.datapath is not None:
            self.datapath.unbind(address)
        if not isinstance(address, tuple):
            address.close()

    def _link_lost(self, link: TcpLink) -> None:
        if (transport := self.by_addr.get(link)) is not None:
            transport.lost(link)
        self.unbind(link)

    def media_peer(self, handler: PacketHandler, on_drop: Callable[[int], None]) -> Peer:
        """A transport's entry on the datapath: its SRTP goes to ``handler`` from now on."""
        if self.datapath is None:
            raise ConnectionError("UDP port not started")
        return self.datapath.peer(handler, on_drop)

    def last_media_s(self, address: Source) -> float:
        """When the datapath last took media from ``address`` (-1 if never), on our clock."""
        if self.datapath is None:
            return -1.0
        received_ms = self.datapath.last_received_ms(address)
        return received_ms / 1000 if received_ms >= 0 else -1.0

    def sendto(self, data: bytes, address: Source) -> None:
        if self._sock is None:
            raise ConnectionError("UDP port closed")
        if not isinstance(address, tuple):
            if not address.send_frame(data):
                self.stats.drops[DropReason.SEND_BUFFER_FULL] += 1
            return
        try:
            self._sock.sendto(data, address)
        except BlockingIOError:
            self.stats.drops[DropReason.SEND_BUFFER_FULL] += 1

    def drop(self, reason: DropReason) -> None:
        self.stats.drops[reason] += 1

    # the socket's side ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, source: Source) -> None:
        """What the datapath does not handle itself: STUN, DTLS, unknown sources."""
        kind = classify(data)
        if kind == STUN:
            self._stun(data, source)
        elif kind == OTHER:
            self.stats.drops[DropReason.NOT_WEBRTC] += 1
        elif (transport := self.by_addr.get(source)) is None:
            self.stats.drops[DropReason.UNKNOWN_ADDRESS] += 1
        else:
            transport.deliver(data, source, self.now())

    def _stun(self, data: bytes, source: Source) -> None:
        drops = self.stats.drops
        now = self.now()
        if not self._limiter.allow(source if isinstance(source, tuple) else source.key, now):
            drops[DropReason.STUN_RATE_LIMITED] += 1
            return
        check = parse_check(data)
        if isinstance(check, DropReason):
            drops[check] += 1
            return
        transport = self.by_ufrag.get(check.local_ufrag)
        if transport is None:
            drops[DropReason.STUN_UNKNOWN_UFRAG] += 1
            return
        refused = verify(
            check, password=transport.password_bytes, remote_ufrag=transport.remote_ufrag
        )
        if refused is not None:
            drops[refused] += 1
            return
        mapped = source if isinstance(source, tuple) else source.remote
        response = binding_response(
            check, mapped, password=transport.password_bytes, request_size=len(data)
        )
        if isinstance(response, DropReason):
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
