"""Everything a subscriber's bundle transport delivers: its RTCP feedback on what we send it."""

from __future__ import annotations

from collections.abc import Callable

from sfu.media.allocator import clamp_estimate
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.downtrack import DownTrack
from sfu.rtp.rtcp import Fir, Nack, Pli, Remb, parse_compound


class SubscriberFeedback:
    """Implements ``MediaHandler`` for a subscribe connection: NACK, PLI/FIR, REMB."""

    def __init__(self, counters: MediaCounters, on_estimate: Callable[[int, int], None]) -> None:
        self._counters = counters
        self._on_estimate = on_estimate
        self._by_ssrc: dict[int, DownTrack] = {}
        self.estimate_bps: int | None = None

    def add(self, downtrack: DownTrack) -> None:
        self._by_ssrc[downtrack.ssrc] = downtrack

    def remove(self, downtrack: DownTrack) -> None:
        self._by_ssrc.pop(downtrack.ssrc, None)

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        self._counters.drop(DropReason.UNKNOWN_SSRC)  # subscribers send no media here

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        try:
            packets = parse_compound(data)
        except ValueError:
            self._counters.drop(DropReason.MALFORMED_RTCP)
            return
        for packet in packets:
            if isinstance(packet, Nack):
                downtrack = self._by_ssrc.get(packet.media_ssrc)
                if downtrack is not None:
                    downtrack.retransmit(packet.lost, now_ms)
            elif isinstance(packet, Pli):
                self._keyframe(packet.media_ssrc, now_ms)
            elif isinstance(packet, Fir):
                for ssrc in packet.media_ssrcs:
                    self._keyframe(ssrc, now_ms)
            elif isinstance(packet, Remb):
                self._remb(packet.bitrate, now_ms)

    def _remb(self, bitrate: int, now_ms: int) -> None:
        estimate = clamp_estimate(bitrate)
        if estimate != bitrate:
            self._counters.clamped_estimates += 1
        previous, self.estimate_bps = self.estimate_bps, estimate
        if previous is None or estimate < previous:
            self._on_estimate(estimate, now_ms)  # react now, not at the next tick

    def _keyframe(self, ssrc: int, now_ms: int) -> None:
        downtrack = self._by_ssrc.get(ssrc)
        if downtrack is not None:
            downtrack.request_keyframe(now_ms)
