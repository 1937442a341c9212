"""Everything a subscriber's bundle transport delivers: its RTCP feedback on what we send it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfu.media.allocator import MAX_ESTIMATE_BPS, MIN_ESTIMATE_BPS, clamp_estimate
from sfu.media.arrivals_py import SentPackets
from sfu.media.bandwidth_estimator_py import Probe
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.downtrack import DownTrack
from sfu.media.kernels import Arrivals, BandwidthEstimator, FeedbackReader
from sfu.rtp.rtcp import Fir, Nack, Pli, ReceiverReport, Remb, parse_compound
from sfu.rtp.twcc import TransportFeedback


class SubscriberFeedback:
    """Implements ``MediaHandler`` for a subscribe connection: NACK, PLI/FIR, the bandwidth
    estimate, and the loss its receiver reports give (Chrome's REMB can lag behind a path that
    suddenly narrows).

    The estimate is our own send-side one from transport-cc feedback once the subscriber sends
    any (``use_send_log``), else its REMB. ``on_probe`` is asked to send the probes the
    estimator wants. A transport-cc feedback sent alone never reaches Python here: ``on_rtcp``
    is a ``FeedbackReader``'s, which hands everything else to ``_on_compound``."""

    def __init__(
        self,
        counters: MediaCounters,
        on_change: Callable[[int], None],
        on_probe: Callable[[Probe], None] = lambda _: None,
        *,
        initial_bps: int = 1_000_000,
    ) -> None:
        self._counters = counters
        self._on_change = on_change
        self._initial_bps = initial_bps
        self._by_ssrc: dict[int, DownTrack[Any]] = {}
        self._remb_bps: int | None = None
        self._reader = FeedbackReader(counters, self._on_compound, on_change, on_probe)
        self.on_rtcp: Callable[[bytes, int], None] = self._reader.on_rtcp
        self.loss = 0.0  # the highest fraction lost of our streams in the last receiver report
        self.round_trip_ms: int | None = None  # from the last report block that echoed our SR

    @property
    def send_side(self) -> bool:
        """Whether the estimate is ours (transport-cc feedback arrived)."""
        return self._reader.send_side

    @property
    def estimate_bps(self) -> int | None:
        """What the subscriber's downlink carries, as far as we know (None: nothing yet)."""
        estimator = self._reader.estimator
        if self._reader.send_side and estimator is not None:
            return estimator.bps
        return self._remb_bps

    @property
    def estimator(self) -> BandwidthEstimator | None:
        return self._reader.estimator

    def use_send_log(self, sent: SentPackets) -> None:
        """Our RTP is stamped with transport-wide seqs into ``sent``: estimate from the
        subscriber's feedback on them."""
        if self._reader.estimator is None:
            self._reader.estimator = BandwidthEstimator(
                Arrivals(sent), self._initial_bps, MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS
            )

    def add(self, downtrack: DownTrack[Any]) -> None:
        self._by_ssrc[downtrack.ssrc] = downtrack

    def remove(self, downtrack: DownTrack[Any]) -> None:
        """Unless another down track has its SSRC now (a WHEP player's next source)."""
        if self._by_ssrc.get(downtrack.ssrc) is downtrack:
            del self._by_ssrc[downtrack.ssrc]

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        self._counters.drop(DropReason.UNKNOWN_SSRC)  # subscribers send no media here

    def _on_compound(self, data: bytes, now_ms: int) -> None:
        try:
            packets = parse_compound(data)
        except ValueError:
            self._counters.drop(DropReason.MALFORMED_RTCP)
            return
        nacks: dict[int, list[bytes]] = {}
        for packet in packets:
            if isinstance(packet, TransportFeedback):  # the most frequent, first
                self._reader.take(packet, now_ms)
            elif isinstance(packet, Nack):
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
        previous, self._remb_bps = self._remb_bps, estimate
        if not self.send_side and (previous is None or estimate < previous):
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
