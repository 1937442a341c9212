"""Everything a subscriber's bundle transport delivers: its RTCP feedback on what we send it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfu.media.allocator import clamp_estimate
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.downtrack import DownTrack
from sfu.rtp.rtcp import Fir, Nack, Pli, ReceiverReport, Remb, parse_compound


class SubscriberFeedback:
    """Implements ``MediaHandler`` for a subscribe connection: NACK, PLI/FIR, REMB, and the loss
    its receiver reports give (Chrome's REMB can lag behind a path that suddenly narrows)."""

    def __init__(self, counters: MediaCounters, on_change: Callable[[int], None]) -> None:
        self._counters = counters
        self._on_change = on_change
        self._by_ssrc: dict[int, DownTrack[Any]] = {}
        self.estimate_bps: int | None = None
        self.loss = 0.0  # the highest fraction lost of our streams in the last receiver report
        self.round_trip_ms: int | None = None  # from the last report block that echoed our SR

    def add(self, downtrack: DownTrack[Any]) -> None:
        self._by_ssrc[downtrack.ssrc] = downtrack

    def remove(self, downtrack: DownTrack[Any]) -> None:
        self._by_ssrc.pop(downtrack.ssrc, None)

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        self._counters.drop(DropReason.UNKNOWN_SSRC)  # subscribers send no media here

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        try:
            packets = parse_compound(data)
        except ValueError:
            self._counters.drop(DropReason.MALFORMED_RTCP)
            return
        nacks: dict[int, list[bytes]] = {}
        for packet in packets:
            if isinstance(packet, Nack):
                nacks.setdefault(packet.media_ssrc, []).append(packet.fci)
            elif isinstance(packet, Pli):
                self._keyframe(packet.media_ssrc, now_ms)
            elif isinstance(packet, Fir):
                for ssrc in packet.media_ssrcs:
                    self._keyframe(ssrc, now_ms)
            elif isinstance(packet, Remb):
                self._remb(packet.bitrate, now_ms)
            elif isinstance(packet, ReceiverReport):
                self._report(packet, now_ms)
        for ssrc, fcis in nacks.items():  # one answer per stream: the cap holds per compound
            downtrack = self._by_ssrc.get(ssrc)
            if downtrack is not None:
                downtrack.retransmit(b"".join(fcis), now_ms)

    def _remb(self, bitrate: int, now_ms: int) -> None:
        estimate = clamp_estimate(bitrate)
        if estimate != bitrate:
            self._counters.clamped_estimates += 1
        previous, self.estimate_bps = self.estimate_bps, estimate
        if previous is None or estimate < previous:
            self._on_change(now_ms)  # react now, not at the next tick

    def _report(self, report: ReceiverReport, now_ms: int) -> None:
        ours = [b for b in report.reports if b.ssrc in self._by_ssrc]
        if not ours:
            return
        for block in ours:
            rtt = self._by_ssrc[block.ssrc].round_trip_ms(block.lsr, block.dlsr, now_ms)
            if rtt is not None:
                self.round_trip_ms = rtt
        fractions = [b.fraction_lost for b in ours]
        previous, self.loss = self.loss, max(fractions) / 256
        if self.loss > previous:
            self._on_change(now_ms)

    def _keyframe(self, ssrc: int, now_ms: int) -> None:
        downtrack = self._by_ssrc.get(ssrc)
        if downtrack is not None:
            downtrack.request_keyframe(now_ms)
