"""ICE-TCP on the node: one listening TCP port beside the UDP one (RFC 6544 passive host
candidates), each connection carrying datagrams as RFC 4571 frames (a 2-byte length, then the
datagram).

A connection is a ``datapath_py.Stream``: its frames enter the node's one datapath as a batch per
read (SRTP of an authenticated connection straight to its peer's handler; STUN and DTLS to the
ICE-lite responder, as datagrams from a UDP address would), and a peer that selected it sends on
it. What a connection-oriented port must not let a client do is bounded here: frame sizes, the
time to a first authenticated check, unauthenticated connections per source host, bytes waiting
to be written. Authenticated connections are not limited per host: a company NAT puts a whole
office (the networks that block UDP) behind one address.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from typing import cast

from sfu.media.counters import TCP_DROPS, DropReason
from sfu.rtp.demux_py import OTHER
from sfu.rtp.kernels import classify
from sfu.webrtc.datapath_py import SLOT, Address
from sfu.webrtc.ratelimit import SourceRateLimiter

logger = logging.getLogger(__name__)

MAX_FRAME = SLOT  # the largest datagram the datapath takes; WebRTC's are ~1,200 B
CHECK_TIMEOUT_S = 10.0  # a connection that has not been authenticated by then is closed
MAX_PENDING_PER_HOST = 32  # open, not yet authenticated connections from one source host
CONNECT_RATE_PER_S = 20.0  # new connections per source host, bursts of CONNECT_BURST
CONNECT_BURST = 64.0
MAX_CONNECTIONS = 8192
MAX_WRITE_BUFFER = 1 << 20  # bytes a slow reader may have waiting before sends to it fail


def split_frames(buffer: bytes | bytearray) -> tuple[list[bytes], int] | DropReason:
    """The complete frames at the start of ``buffer`` and the bytes they take; or why the stream
    cannot be followed any further (a zero or oversized length, a frame that is not WebRTC)."""
    frames: list[bytes] = []
    at, end = 0, len(buffer)
    while end - at >= 2:
        length = (buffer[at] << 8) | buffer[at + 1]
        if length == 0:
            return DropReason.TCP_BAD_FRAME
        if length > MAX_FRAME:
            return DropReason.TCP_FRAME_TOO_LARGE
        if end - at - 2 < length:
            break
        frame = bytes(buffer[at + 2 : at + 2 + length])
        if classify(frame) == OTHER:
            return DropReason.TCP_BAD_FRAME
        frames.append(frame)
        at += 2 + length
    return frames, at


class TcpStats:
    """Plain counters, read by /metrics at scrape time."""

    __slots__ = ("accepted", "drops")

    def __init__(self) -> None:
        self.accepted = 0
        self.drops: dict[DropReason, int] = dict.fromkeys(TCP_DROPS, 0)


class TcpLink(asyncio.Protocol):
    """One accepted connection, as the datapath and the ICE-lite responder see it."""

    _ids = itertools.count(1)

    def __init__(self, port: TcpPort) -> None:
        self._port = port
        self.key = b"tcp:" + next(self._ids).to_bytes(8, "big")
        self.remote: Address = ("", 0)
        self._transport: asyncio.Transport | None = None
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._flush_due: asyncio.Handle | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"tcp:{self.remote[0]}:{self.remote[1]}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        host, port = transport.get_extra_info("peername")[:2]
        self.remote = (host, port)
        if not self._port.admit(self):
            self._abort(DropReason.TCP_CONNECTIONS_LIMITED)
            return
        self._expiry = asyncio.get_running_loop().call_later(CHECK_TIMEOUT_S, self._expire)

    def data_received(self, data: bytes) -> None:
        self._inbox += data
        split = split_frames(self._inbox)
        if isinstance(split, DropReason):
            self._abort(split)
            return
        frames, used = split
        del self._inbox[:used]
        if frames:
            self._port.receive(frames, self)

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in (self._expiry, self._flush_due):
            if handle is not None:
                handle.cancel()
        self._transport = None
        self._port.lost(self)

    def send_frame(self, data: bytes) -> bool:
        """Queue a datagram; the frames queued in one pass of the event loop (a datapath batch)
        leave in one write."""
        transport = self._transport
        if transport is None or transport.is_closing() or len(data) > 0xFFFF:
            return False
        if transport.get_write_buffer_size() + len(self._outbox) > MAX_WRITE_BUFFER:
            return False  # the client does not read: what it misses is counted by the caller
        self._outbox += len(data).to_bytes(2, "big")
        self._outbox += data
        if self._flush_due is None:
            self._flush_due = asyncio.get_running_loop().call_soon(self._flush)
        return True

    def _flush(self) -> None:
        self._flush_due = None
        if self._transport is not None and self._outbox:
            self._transport.write(bytes(self._outbox))
        self._outbox.clear()

    def close(self) -> None:
        """End the connection once what is queued has been written."""
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def _abort(self, reason: DropReason) -> None:
        self._port.stats.drops[reason] += 1
        logger.info("ICE-TCP %r closed: %s", self, reason.value)
        if self._transport is not None:
            self._transport.abort()

    def _expire(self) -> None:
        self._expiry = None
        if not self._port.authenticated(self):
            self._abort(DropReason.TCP_NO_CHECK)


class TcpPort:
    """The listening socket and its connections. ``receive`` takes a connection's frames (the
    datapath's), ``authenticated`` says whether a check bound a connection to a transport, and
    ``on_lost`` hears of every connection that ended."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        receive: Callable[[list[bytes], TcpLink], None],
        authenticated: Callable[[TcpLink], bool],
        on_lost: Callable[[TcpLink], None],
        clock: Callable[[], float],
    ) -> None:
        self._sock = sock
        self.receive = receive
        self.authenticated = authenticated
        self._on_lost = on_lost
        self._now = clock
        self.stats = TcpStats()
        self.links: set[TcpLink] = set()
        self._by_host: dict[str, set[TcpLink]] = {}
        self._limiter = SourceRateLimiter(
            rate_per_s=CONNECT_RATE_PER_S, burst=CONNECT_BURST, max_sources=MAX_CONNECTIONS
        )
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: TcpLink(self), sock=self._sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def admit(self, link: TcpLink) -> bool:
        """A new connection is kept unless its host has too many waiting for a check or opens
        them too fast."""
        host = link.remote[0]
        same_host = self._by_host.setdefault(host, set())
        pending = sum(1 for other in same_host if not self.authenticated(other))
        if (
            len(self.links) >= MAX_CONNECTIONS
            or pending >= MAX_PENDING_PER_HOST
            or not self._limiter.allow(host, self._now())
        ):
            if not same_host:
                del self._by_host[host]
            return False
        self.links.add(link)
        same_host.add(link)
        self.stats.accepted += 1
        return True

    def lost(self, link: TcpLink) -> None:
        if link not in self.links:
            return  # refused at once: never admitted
        self.links.discard(link)
        same_host = self._by_host[link.remote[0]]
        same_host.discard(link)
        if not same_host:
            del self._by_host[link.remote[0]]
        self._on_lost(link)
