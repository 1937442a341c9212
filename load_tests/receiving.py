"""A process's subscribers: the compiled receive path driven by the event loop, and the receiver
reports each subscribe connection sends, as a browser does."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aiortc import RTCPeerConnection

from load_tests import seam
from load_tests.counting_py import StreamReport
from load_tests.rtp import ReportBlock, build_rr, read_sender_reports
from sfu.webrtc import libsrtp

if TYPE_CHECKING:
    from load_tests.counting import DelayHistogram, Poller, Receiver
else:
    from load_tests.counting import DelayHistogram, Poller, Receiver

# Wake up at most this often: whatever arrives meanwhile waits in the sockets and is read in
# one batch (a wake-up costs this VM more than a packet, research/perf.md §1(e)). Reading late
# changes no measurement: each datagram, sender reports included (their DLSR), carries the time
# the kernel queued it.
REARM_S = 0.005


class ReceivePath:
    """Every subscribe socket of this process in one epoll set, drained from the event loop;
    end-to-end delays of all of them in one histogram."""

    def __init__(self) -> None:
        self.delays = DelayHistogram()
        self.poller = Poller(libsrtp.functions())
        self._protocols: dict[int, asyncio.DatagramProtocol] = {}
        self._loop = asyncio.get_running_loop()
        self._rearm: asyncio.TimerHandle | None = None
        self._loop.add_reader(self.poller.fileno(), self._ready)

    def receiver(self) -> Receiver:
        return Receiver(self.delays)

    def attach(
        self, pc: RTCPeerConnection, receiver: Receiver, on_rtcp: Callable[[bytes, int], object]
    ) -> int:
        """Take over a connected subscribe connection's socket: its media is counted by
        ``receiver``, its RTCP handed to ``on_rtcp(packet, arrival_ns)``. Returns a token for
        ``send_rtcp`` and ``detach``."""
        taken = seam.take_socket(pc)
        token = self.poller.add(
            os.dup(taken.fd),  # the poller's own: aioice closes its own when the connection ends
            receiver,
            on_rtcp,
            libsrtp.session_pointer(taken.receive),
            libsrtp.session_pointer(taken.send),
            taken.peer,
            taken,
        )
        self._protocols[token] = taken.protocol
        return token

    def send_rtcp(self, token: int, packets: list[bytes]) -> None:
        """Protect and send a connection's own RTCP (nothing once it is detached)."""
        self.poller.send_rtcp(token, packets)

    def detach(self, token: int) -> None:
        self.poller.remove(token)
        self._protocols.pop(token, None)

    def _ready(self) -> None:
        self._loop.remove_reader(self.poller.fileno())
        for token, data, addr in self.poller.drain():
            protocol = self._protocols.get(token)
            if protocol is not None:
                with contextlib.suppress(Exception):  # aioice's business, as if it had read it
                    protocol.datagram_received(data, addr)
        self._rearm = self._loop.call_later(
            REARM_S, self._loop.add_reader, self.poller.fileno(), self._ready
        )

    def close(self) -> None:
        if self._rearm is not None:
            self._rearm.cancel()
        self._loop.remove_reader(self.poller.fileno())
        self.poller.close()


class ReceiverReports:
    """RFC 3550 receiver reports of one connection: loss since the last report, and the last
    sender report of each stream (LSR/DLSR) so the SFU can measure the round trip. Pure."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self._prior: dict[int, tuple[int, int]] = {}  # ssrc -> (expected, packets)
        self._sender_reports: dict[int, tuple[int, int]] = {}  # ssrc -> (LSR, arrival ns)

    def on_rtcp(self, data: bytes, now_ns: int) -> None:
        for ssrc, lsr in read_sender_reports(data):
            self._sender_reports[ssrc] = (lsr, now_ns)

    def packets(self, streams: Sequence[StreamReport], now_ns: int) -> list[bytes]:
        """One receiver report per stream (as browsers send them, each stream on its own)."""
        out = []
        for s in streams:
            expected0, packets0 = self._prior.get(s.ssrc, (0, 0))
            self._prior[s.ssrc] = (s.expected, s.packets)
            expected = s.expected - expected0
            lost = expected - (s.packets - packets0)
            fraction = min(255, (lost << 8) // expected) if expected > 0 and lost > 0 else 0
            lsr, at_ns = self._sender_reports.get(s.ssrc, (0, now_ns))
            block = ReportBlock(
                ssrc=s.ssrc,
                fraction_lost=fraction,
                lost=s.expected - s.packets,
                highest=s.highest,
                jitter=s.jitter,
                lsr=lsr,
                dlsr=(now_ns - at_ns) * 65536 // 1_000_000_000 if lsr else 0,
            )
            out.append(build_rr(self.ssrc, [block]))
        return out
