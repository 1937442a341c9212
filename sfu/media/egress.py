"""Everything a subscriber's bundle transport delivers: its RTCP feedback on what we send it."""

from __future__ import annotations

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.downtrack import DownTrack
from sfu.rtp.rtcp import Fir, Nack, Pli, Remb, parse_compound


class SubscriberFeedback:
    """Implements ``MediaHandler`` for a subscribe connection: NACK, PLI/FIR, REMB."""

    def __init__(self, counters: MediaCounters) -> None:
        self._counters = counters
        self._by_ssrc: dict[int, DownTrack] = {}
        self.estimate_bps = 0

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
                    downtrack.retransmit(packet.lost)
            elif isinstance(packet, Pli):
                self._keyframe(packet.media_ssrc, now_ms)
            elif isinstance(packet, Fir):
                for ssrc in packet.media_ssrcs:
                    self._keyframe(ssrc, now_ms)
            elif isinstance(packet, Remb):
                self.estimate_bps = packet.bitrate

    def _keyframe(self, ssrc: int, now_ms: int) -> None:
        downtrack = self._by_ssrc.get(ssrc)
        if downtrack is not None:
            downtrack.request_keyframe(now_ms)
