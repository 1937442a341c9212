"""The node port's packet loop in plain Python: the spec of cython_ext/datapath.pyx.

The socket is drained in bounded batches. SRTP and SRTCP (``classify``) from a source bound to a
peer with keys is unprotected with that peer's session and handed to its handler with the
batch's time; every other datagram (STUN, DTLS, unknown sources, media before
the keys) goes to the slow path with its source. A source is a (host, port) on the socket, or a
``Stream``: an ICE-TCP connection whose frames come in through ``receive``, one batch per read,
and whose peer's sends go out on it. What is sent while a batch is processed
leaves when the batch ends (the compiled loop sends it with one ``sendmmsg``), so fan-out costs
one system call per batch instead of one per packet; each peer's datagrams of the batch go as
few sends as ``segment_runs`` allows, which the kernel cuts into datagrams again (UDP
segmentation offload): on loopback and on a network card alike, one buffer and one trip down
the stack for a run instead of one per datagram. A peer's datagram that is dropped is reported
to its ``on_drop`` with the ``DropReason.code``.
"""

from __future__ import annotations

import errno
import itertools
import logging
import operator
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias

import pylibsrtp

from sfu.media.clock import monotonic_ms
from sfu.media.counters import DropReason
from sfu.rtp.demux_py import RTCP, RTP, classify
from sfu.webrtc.sendlog_py import SendLog

logger = logging.getLogger("sfu.webrtc.datapath")

Address = tuple[str, int]  # (host, port), as the socket module gives it

BATCH = 32
SLOT = 2048  # larger datagrams arrive truncated
# A read after a pause this long first asks ``may_read`` (the node's stall watch): a stall, the
# process not running for seconds, can only show after one, and asking on every wake-up would
# cost each one a few Python calls.
PAUSE_MS = 100
TRAILER = 148  # SRTCP index + longest tag + MKI
QUEUE = 512
MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS of Linux 6.1 (later kernels take 128)
MAX_SEGMENT_BYTES = 65000  # a run's bytes: one UDP datagram's payload before the kernel cuts it
UDP_SEGMENT = 103  # <netinet/udp.h>; the socket module does not name it


def segment_runs(sizes: Sequence[int], max_segments: int = MAX_SEGMENTS) -> list[int]:
    """How many of one destination's datagrams (their ``sizes``, in order) each send carries:
    a run is cut by the kernel at its first datagram's size, so each one after the first is as
    large, except a last shorter one; at most ``max_segments`` and ``MAX_SEGMENT_BYTES``."""
    runs: list[int] = []
    i = 0
    while i < len(sizes):
        size, count, total = sizes[i], 0, 0
        while i < len(sizes):
            n = sizes[i]
            if count and (n > size or count == max_segments or total + n > MAX_SEGMENT_BYTES):
                break
            count, total, i = count + 1, total + n, i + 1
            if n < size:
                break  # a shorter datagram can only be a run's last
        runs.append(count)
    return runs


class PacketHandler(Protocol):
    """Decrypted RTP/RTCP of one peer (``sfu.media.transport.MediaHandler``)."""

    def on_rtp(self, data: bytes, now_ms: int) -> None: ...

    def on_rtcp(self, data: bytes, now_ms: int) -> None: ...


class Stream(Protocol):
    """A connection carrying datagrams as frames (ICE-TCP, RFC 4571): its frames reach the
    datapath through ``Datapath.receive``; a peer whose destination it is sends on it."""

    @property
    def key(self) -> bytes:
        """Its lookup key: unique, and never the length of an address key (6 or 18 bytes)."""
        ...

    @property
    def remote(self) -> Address:
        """The other end's address (what a STUN response maps)."""
        ...

    def send_frame(self, data: bytes) -> bool:
        """Queue one datagram; False when it cannot go (closed, or too much is waiting)."""
        ...

    def close(self) -> None:
        """End the connection (what is queued is written first)."""
        ...


Source: TypeAlias = "Address | Stream"  # where a datagram came from, or where a peer sends


def address_key(address: Address) -> bytes:
    """The lookup key of a source: port, then the address bytes."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return int(port).to_bytes(2, "big") + socket.inet_pton(family, host)


def source_key(source: Source) -> bytes:
    return address_key(source) if isinstance(source, tuple) else source.key


class _Source:
    __slots__ = ("last_rx_ms", "peer")

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.last_rx_ms = -1


class Peer:
    """One peer connection's SRTP sessions, handler and destination on the datapath."""

    def __init__(
        self, datapath: Datapath, handler: PacketHandler, on_drop: Callable[[int], None]
    ) -> None:
        self._datapath = datapath
        self.on_rtp, self.on_rtcp, self.on_drop = handler.on_rtp, handler.on_rtcp, on_drop
        self.rx: pylibsrtp.Session | None = None
        self.tx: pylibsrtp.Session | None = None
        self.destination: Source | None = None
        self.send_log: SendLog | None = None

    def set_keys(self, rx: pylibsrtp.Session, tx: pylibsrtp.Session) -> None:
        """The DTLS handshake's SRTP sessions; media flows from now on."""
        self.rx, self.tx = rx, tx

    def set_send_log(self, log: SendLog) -> None:
        """Stamp the RTP this peer sends with transport-wide seqs (transport-cc) into ``log``,
        in the order it is queued, with the time it leaves."""
        self.send_log = log

    def set_destination(self, destination: Source) -> None:
        """Where this peer's media goes (the ICE-lite transport's selected address or stream)."""
        self.destination = destination if not isinstance(destination, tuple) else destination[:2]

    def send(self, data: bytes, rtcp: bool) -> bool:
        """Protect and queue; False (and on_drop(SEND_FAILED)) when it cannot go: no keys or
        address yet, too large."""
        if self._datapath._queue(self, data, rtcp):
            return True
        self.on_drop(DropReason.SEND_FAILED.code)
        return False

    def send_rtp(self, data: bytes) -> bool:
        return self.send(data, False)

    def close(self) -> None:
        """Forget the keys: nothing more is sent or delivered for this peer."""
        self.rx = self.tx = None
        self.destination = None


class Datapath:
    """The batched loop on one non-blocking UDP socket.

    ``slow_path(data, source)`` gets what is not media of a keyed peer; ``clock_ms`` is
    read once per batch (by default the monotonic clock of ``sfu.media.clock``, which the
    compiled loop reads in C); ``may_read`` is asked after a pause (``PAUSE_MS``) and a False
    leaves the socket unread; ``libsrtp`` and ``pointer_of`` are the compiled loop's way into
    libsrtp, unused here.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        slow_path: Callable[[bytes, Source], None],
        libsrtp: tuple[int, int, int, int],
        pointer_of: Callable[[pylibsrtp.Session], int],
        clock_ms: Callable[[], int] = monotonic_ms,
        may_read: Callable[[], bool] | None = None,
        max_batches: int = 8,
        max_segments: int = MAX_SEGMENTS,
    ) -> None:
        self._sock = sock
        self._slow_path = slow_path
        self._clock_ms = clock_ms
        self._may_read = may_read
        self._read_ms = -PAUSE_MS  # when the socket was last read
        self._sent_ms = 0  # when the queued sends of a batch leave, for transport-cc
        self._max_batches = max_batches
        self._sources: dict[bytes, _Source] = {}
        # each peer's queued datagrams and their destinations, in the order the peers queued
        self._outgoing: dict[Peer, list[tuple[bytes, Address]]] = {}
        self._queued = 0
        self._in_batch = False
        self.max_segments = max(1, min(max_segments, MAX_SEGMENTS))
        try:
            sock.getsockopt(socket.SOL_UDP, UDP_SEGMENT)
        except OSError:  # a kernel without it (before 4.18) would send each run as one datagram
            self.max_segments = 1
        self.wakeups = self.batches = self.datagrams = 0
        self.sent = self.send_failed = self.slow_path_errors = 0
        self.coalesced = 0  # datagrams sent in a run of more than one

    def peer(self, handler: PacketHandler, on_drop: Callable[[int], None]) -> Peer:
        return Peer(self, handler, on_drop)

    def bind(self, source: Source, peer: Peer) -> None:
        self._sources[source_key(source)] = _Source(peer)

    def unbind(self, source: Source) -> None:
        self._sources.pop(source_key(source), None)

    def last_received_ms(self, source: Source) -> int:
        found = self._sources.get(source_key(source))
        return -1 if found is None else found.last_rx_ms

    def on_readable(self) -> None:
        """Drain the socket (bounded: max_batches reads), then send what was queued."""
        now_ms = self._clock_ms()
        if now_ms - self._read_ms >= PAUSE_MS and self._may_read and not self._may_read():
            return
        self._read_ms = self._sent_ms = now_ms
        self.wakeups += 1
        self._in_batch = True
        try:
            for _ in range(self._max_batches):
                got = self._read_batch()
                if got:
                    self.batches += 1
                    self.datagrams += len(got)
                for data, source in got:
                    self._dispatch(data, source, now_ms)
                if len(got) < BATCH:
                    break
        finally:
            self._in_batch = False
            self._flush()

    def receive(self, frames: list[bytes], stream: Stream) -> None:
        """A stream's frames, as one batch: what they cause to be sent leaves at its end."""
        now_ms = self._clock_ms()
        self._read_ms = self._sent_ms = now_ms
        self._in_batch = True
        try:
            for data in frames:
                self._dispatch(data, stream, now_ms)
        finally:
            self._in_batch = False
            self._flush()

    def hold_sends(self) -> None:
        """What is sent until ``release_sends`` waits in the queue and leaves in one batch (a tick's
        reports): not across an await, where a read would send the queue early."""
        self._sent_ms = self._clock_ms()
        self._in_batch = True

    def release_sends(self) -> None:
        self._in_batch = False
        self._flush()

    def _read_batch(self) -> list[tuple[bytes, Address]]:
        got: list[tuple[bytes, Address]] = []
        while len(got) < BATCH:
            try:
                data, source = self._sock.recvfrom(SLOT)
            except (BlockingIOError, InterruptedError):
                break
            got.append((data, (source[0], source[1])))
        return got

    def _dispatch(self, data: bytes, source: Source, now_ms: int) -> None:
        kind = classify(data)
        if kind in (RTP, RTCP):
            found = self._sources.get(source_key(source))
            if found is not None and (rx := found.peer.rx) is not None:
                peer = found.peer
                found.last_rx_ms = now_ms
                rtcp = kind == RTCP
                try:
                    plain = rx.unprotect_rtcp(data) if rtcp else rx.unprotect(data)
                except pylibsrtp.Error:
                    peer.on_drop(DropReason.SRTP_UNPROTECT.code)
                    return
                try:
                    (peer.on_rtcp if rtcp else peer.on_rtp)(plain, now_ms)
                except Exception:
                    peer.on_drop(DropReason.INTERNAL_ERROR.code)
                return
        try:
            self._slow_path(data, source)
        except Exception:  # a bug there must not cost the rest of the batch
            self.slow_path_errors += 1
            if self.slow_path_errors % 1000 == 1:
                logger.exception("slow path failed (%d times)", self.slow_path_errors)

    def _queue(self, peer: Peer, data: bytes, rtcp: bool) -> bool:
        if peer.tx is None or peer.destination is None or len(data) > SLOT - TRAILER:
            return False
        if self._queued == QUEUE:
            self._flush()
            if self._in_batch:
                self._sent_ms = self._clock_ms()  # what follows leaves after this send
        if not rtcp and peer.send_log is not None:
            # a batch's sends leave at its time, read at its start and after each send of a
            # full queue (a long batch must not look like a growing delay): not per packet
            data = peer.send_log.stamp(data, self._sent_ms if self._in_batch else self._clock_ms())
        try:
            protected = peer.tx.protect_rtcp(data) if rtcp else peer.tx.protect(data)
        except pylibsrtp.Error:
            return False
        if not isinstance(peer.destination, tuple):
            return peer.destination.send_frame(protected)
        self._outgoing.setdefault(peer, []).append((protected, peer.destination))
        self._queued += 1
        if not self._in_batch:
            self._flush()
        return True

    def _flush(self) -> None:
        """Send the queue, each run of a peer's datagrams to one destination as one send; a
        datagram the kernel refuses (full buffer) is dropped, counted. A run refused otherwise
        is sent datagram by datagram; refused for the device (EIO), never segmented again."""
        for queued in self._outgoing.values():
            # a stretch with one destination (it rarely changes within a batch)
            for destination, stretch in itertools.groupby(queued, key=operator.itemgetter(1)):
                datagrams = [data for data, _ in stretch]
                start = 0
                for count in segment_runs([len(d) for d in datagrams], self.max_segments):
                    self._send_run(datagrams[start : start + count], destination)
                    start += count
        self._outgoing.clear()
        self._queued = 0

    def _send_run(self, run: list[bytes], destination: Address) -> None:
        if len(run) > 1:
            segment = [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", len(run[0])))]
            try:
                self._sock.sendmsg(run, segment, 0, destination)
                self.sent += len(run)
                self.coalesced += len(run)
                return
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.ENOBUFS):  # full: so would each one be
                    self.send_failed += len(run)
                    return
                if error.errno == errno.EIO and self.max_segments > 1:
                    self.max_segments = 1
                    logger.warning("the device refuses segmented sends: one datagram each")
        for data in run:
            try:
                self._sock.sendto(data, destination)
                self.sent += 1
            except OSError:
                self.send_failed += 1
