"""A subscriber's downlink estimate from its transport-cc feedback: send-side GCC
(draft-ietf-rmcat-gcc-02, as libwebrtc's goog_cc runs it). Pure: time is passed in.

Per packet, ``Arrivals`` (a kernel: ``sfu.media.arrivals_py`` is its spec) judges each reported
packet, groups them and says overuse / normal / underuse from the delay trend. Per feedback,
here, AIMD turns that signal into a rate: x1.08 per second far from the last known capacity, a
packet per response time near it, 0.85 x what the receiver got on overuse. Loss: under 2 % the
rate may grow, over 10 % it shrinks by half the loss. The estimate is the lower of the two.
Growing at 8 %/s alone would take ~20 s to find a lifted cap, so the estimator also asks for
short probes above the estimate, as libwebrtc's probe controller does, and jumps to what a probe
proves the path carries.

The spec of the compiled kernel (cython_ext/bandwidth_estimator.pyx): every subscriber's feedback
runs it, ten to twenty times a second. Its results are tuples (``Probe``, ``Estimate``), which the
kernel builds alike.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from sfu.media.arrivals_py import NORMAL, OVERUSING, UNDERUSING, Arrivals
from sfu.rtp.seqnum import unwrap16
from sfu.rtp.twcc import REFERENCE_UNIT_US, TransportFeedback

# AIMD rate control (goog_cc AimdRateControl)
INCREASE_PER_S = 1.08
BETA = 0.85
MIN_INCREASE_BPS_PER_S = 4_000  # additive increase floor near capacity
ACKED_HEADROOM = 1.5  # the rate may not grow past 1.5 x acked + 10 kbps
ACKED_HEADROOM_BPS = 10_000
# Loss-based control (goog_cc SendSideBandwidthEstimation)
LOSS_LOW, LOSS_HIGH = 0.02, 0.10
LOSS_MIN_PACKETS = 50  # loss is judged over windows of at least this many packets...
LOSS_MIN_MS = 500  # ...and this long
LOSS_DECREASE_MS = 300  # + RTT: at most one loss-based decrease per interval
# Probing (goog_cc ProbeController, ProbeBitrateEstimator)
PROBE_INTERVAL_MS = 1_500  # while not overusing, probe 2x the estimate this often
PROBE_DURATION_MS = 15
PROBE_MIN_PACKETS = 5
MAX_PROBE_PACKETS = 50
PROBE_TIMEOUT_MS = 1_000
FURTHER_PROBE = 0.7  # a probe that proved this much of its rate is followed by one at twice
SATURATED = 0.9  # received under 0.9 x sent: the path is full, take 0.95 x received
SATURATED_USE = 0.95

STALE, UNKNOWN_PACKETS = "stale", "unknown"  # why a feedback is dropped


class Probe(NamedTuple):
    """Send ``bps`` for ``duration_ms`` now (padding or media), logged with ``id``."""

    id: int
    bps: int
    duration_ms: int


class Estimate(NamedTuple):
    bps: int  # min(delay-based, loss-based), within [floor, ceiling]
    acked_bps: int | None  # what the receiver got over the last 500 ms of arrivals
    probe: Probe | None = None
    dropped: str | None = None  # why the feedback was not taken: STALE or UNKNOWN


class BandwidthEstimator:
    """One per subscriber transport: ``on_feedback`` for every transport-cc feedback it sends
    back, matched by ``arrivals`` against what the transport logged as it stamped."""

    def __init__(
        self, arrivals: Arrivals, initial_bps: int, floor_bps: int, ceiling_bps: int
    ) -> None:
        self.floor_bps, self.ceiling_bps = floor_bps, ceiling_bps
        # No probe looks above this: what the sender could use (libwebrtc probes up to the
        # allocated maximum); the estimate itself may still grow past it.
        self.probe_limit_bps = ceiling_bps
        self.bps = self.delay_bps = self.loss_bps = min(max(initial_bps, floor_bps), ceiling_bps)
        self.state = NORMAL
        self.loss = 0.0  # the last judged window's loss fraction
        self.rtt_ms = 100.0
        # feedback dropped, by reason
        self.feedback_duplicate = 0  # the same feedback count as the last accepted one
        self.feedback_out_of_order = 0  # a feedback count behind the last accepted one
        self.feedback_unknown = 0  # reports a seq never sent, or only seqs already forgotten
        self.packets_forgotten = 0  # reported seqs the log no longer holds, skipped
        self.arrivals = arrivals
        self._fb_count = -1
        self._reference = -1  # extended reference time of the last feedback, 64 ms units
        self._reference_raw = 0
        self._rate = _Aimd(self.bps)
        self._loss_window_start = -1  # -1: from the first feedback on
        self._last_loss_update = -1
        self._last_loss_decrease = -(10**9)
        self._probe: Probe | None = None
        self._probe_started = 0
        self._probe_sent = 0
        self._next_probe_id = 1
        self._last_probe_ms = -(10**9)
        self._last_probe_bps = 0
        self._measured = False  # the estimate is still the start bitrate, a guess

    def on_probe_sent(self, probe: Probe, packets: int) -> None:
        """The sender sent ``packets`` of ``probe`` (logged with its id)."""
        if self._probe is not None and probe.id == self._probe.id:
            self._probe_sent += packets

    def on_feedback(self, feedback: TransportFeedback, now_ms: int) -> Estimate:
        """Take one feedback; the estimate after it (unchanged when the feedback is dropped)."""
        if self._fb_count >= 0:
            step = (feedback.feedback_count - self._fb_count) & 0xFF
            if step == 0:
                self.feedback_duplicate += 1
                return Estimate(self.bps, self.acked_bps, dropped=STALE)
            if step >= 0x80:
                self.feedback_out_of_order += 1
                return Estimate(self.bps, self.acked_bps, dropped=STALE)
        arrivals = self.arrivals
        newest_sent = arrivals.sent.next_seq - 1
        base = unwrap16(newest_sent, feedback.base_seq)
        if newest_sent < 0 or base + len(feedback.arrivals) - 1 > newest_sent:
            self.feedback_unknown += 1  # names a seq never sent
            return Estimate(self.bps, self.acked_bps, dropped=UNKNOWN_PACKETS)
        reference = self._unwrap_reference(feedback.reference_time)
        held, newest_send_ms = arrivals.take(base, feedback.arrivals, reference * REFERENCE_UNIT_US)
        if not held:
            self.feedback_unknown += 1  # only seqs the log no longer holds
            return Estimate(self.bps, self.acked_bps, dropped=UNKNOWN_PACKETS)
        self._fb_count, self._reference, self._reference_raw = (
            feedback.feedback_count,
            reference,
            feedback.reference_time,
        )
        self.packets_forgotten += len(feedback.arrivals) - held
        if newest_send_ms >= 0:  # an upper bound: the receiver may hold feedback up to its interval
            self.rtt_ms = 0.9 * self.rtt_ms + 0.1 * max(0, now_ms - newest_send_ms)
        self.state = arrivals.state
        return self._update(now_ms)

    @property
    def acked_bps(self) -> int | None:
        """What the receiver got over the last 500 ms of arrivals."""
        return self.arrivals.acked_bps

    def _unwrap_reference(self, raw: int) -> int:
        """The extended reference time of ``raw`` after the last taken feedback's."""
        if self._reference < 0:
            return raw
        step = (raw - self._reference_raw) & 0xFFFFFF
        return self._reference + (step - 0x1000000 if step >= 0x800000 else step)

    def _update(self, now_ms: int) -> Estimate:
        probed = self._proven(self._probe_result(now_ms))
        if probed is not None and self.state != OVERUSING:
            self._rate.set(probed, now_ms)
            self.loss_bps = max(self.loss_bps, probed)
        else:
            self._rate.update(self.state, self.acked_bps, self.rtt_ms, now_ms)
        self.delay_bps = self._rate.bps
        self._loss_based(now_ms)
        self.bps = min(max(min(self.delay_bps, self.loss_bps), self.floor_bps), self.ceiling_bps)
        # both rules move from the estimate: neither runs ahead of what the other allows
        self.loss_bps = self.bps
        self._rate.bps = min(self._rate.bps, self.bps)
        return Estimate(self.bps, self.acked_bps, self._next_probe(probed, now_ms))

    def _proven(self, probed: int | None) -> int | None:
        """What the path has shown it carries: a finished probe's rate, or the first acked rate
        where it beats the start bitrate (a subscriber's downlink often carries its streams
        before its first feedback arrives: a guess the path has already beaten is no estimate
        to cut layers by)."""
        acked = self.acked_bps
        if self._measured or acked is None:
            return probed
        self._measured = True
        return acked if probed is None and acked > self._rate.bps else probed

    def _loss_based(self, now_ms: int) -> None:
        """Judge loss per window; between judgements, grow or hold on the last one."""
        if self._last_loss_update < 0:
            self._last_loss_update = self._loss_window_start = now_ms
        elapsed_s = min(now_ms - self._last_loss_update, 1_000) / 1000
        self._last_loss_update = now_ms
        lost, received = self.arrivals.lost, self.arrivals.received
        judged = (
            lost + received >= LOSS_MIN_PACKETS and now_ms - self._loss_window_start >= LOSS_MIN_MS
        )
        if judged:
            self.loss = lost / (lost + received)
            self.arrivals.lost = self.arrivals.received = 0
            self._loss_window_start = now_ms
        if self.loss < LOSS_LOW:
            self.loss_bps = int(self.loss_bps * INCREASE_PER_S**elapsed_s + 1000 * elapsed_s)
        elif (
            judged
            and self.loss > LOSS_HIGH
            and now_ms - self._last_loss_decrease >= LOSS_DECREASE_MS + self.rtt_ms
        ):
            self.loss_bps = int(self.loss_bps * (1 - 0.5 * self.loss))
            self._last_loss_decrease = now_ms

    def _probe_result(self, now_ms: int) -> int | None:
        """The rate a finished probe proved, or None: none pending, not yet complete, failed, or
        sent no faster than the estimate (padding squeezed between the frames of a busy stream
        proves nothing; a path that cannot take a probe shows it in saturation or delay)."""
        probe = self._probe
        if probe is None:
            return None
        got = self.arrivals.probe_got
        complete = len(got) >= max(PROBE_MIN_PACKETS, 0.8 * self._probe_sent)
        if not complete and now_ms - self._probe_started < PROBE_TIMEOUT_MS:
            return None
        self._probe, self.arrivals.probe, self.arrivals.probe_got = None, -1, []
        if len(got) < PROBE_MIN_PACKETS:
            return None
        send_span = max(s for s, _, _ in got) - min(s for s, _, _ in got)
        arrivals = sorted(got, key=lambda p: p[1])
        recv_span = arrivals[-1][1] - arrivals[0][1]
        if send_span <= 0 or recv_span <= 0:
            return None
        total = sum(size for _, _, size in got)
        sent_bps = (total - max(got)[2]) * 8_000 / send_span
        received_bps = (total - arrivals[0][2]) * 8_000 / recv_span
        if received_bps < SATURATED * sent_bps:
            return int(SATURATED_USE * received_bps)
        if min(sent_bps, received_bps) <= self._rate.bps:
            return None
        return int(min(sent_bps, received_bps))

    def _next_probe(self, probed: int | None, now_ms: int) -> Probe | None:
        """Twice the estimate, every PROBE_INTERVAL_MS, or at once after a probe that proved
        most of its rate (so a lifted cap is found in a few round trips, not at 8 %/s)."""
        if (
            self._probe is not None
            or self.state == OVERUSING
            or self.loss > LOSS_HIGH  # the loss rule cuts: no reason to look higher
            or self.bps >= min(self.ceiling_bps, self.probe_limit_bps)
        ):
            return None
        further = probed is not None and probed >= FURTHER_PROBE * self._last_probe_bps
        if not further and now_ms - self._last_probe_ms < PROBE_INTERVAL_MS:
            return None
        limit = min(self.ceiling_bps, self.probe_limit_bps)
        probe = Probe(self._next_probe_id, min(2 * self.bps, limit), PROBE_DURATION_MS)
        self._probe, self._next_probe_id = probe, probe.id + 1
        self.arrivals.probe = probe.id
        self._probe_started = self._last_probe_ms = now_ms
        self._probe_sent, self._last_probe_bps = 0, probe.bps
        return probe


def probe_plan(probe: Probe, packet_size: int) -> list[float]:
    """When to send each packet of ``probe`` (ms from now), packets of ``packet_size`` bytes
    paced at its rate: for its duration, and at least PROBE_MIN_PACKETS (fewer prove nothing),
    at most MAX_PROBE_PACKETS."""
    wanted = probe.bps * probe.duration_ms // 8_000
    count = min(max(PROBE_MIN_PACKETS, -(-wanted // packet_size)), MAX_PROBE_PACKETS)
    return [i * packet_size * 8_000 / probe.bps for i in range(count)]


class _Aimd:
    """Additive-increase multiplicative-decrease on the detector's signal, with the link
    capacity it has seen at overuse (kbps mean and normalised variance, as libwebrtc keeps)."""

    def __init__(self, bps: int) -> None:
        self.bps = bps
        self._increasing = True  # False: holding after a decrease or underuse
        self._last_change_ms: int | None = None
        self._capacity_kbps: float | None = None
        self._deviation = 0.4

    def set(self, bps: int, now_ms: int) -> None:
        self.bps, self._last_change_ms = bps, now_ms

    def update(self, state: str, acked_bps: int | None, rtt_ms: float, now_ms: int) -> None:
        last = now_ms if self._last_change_ms is None else self._last_change_ms
        if state == OVERUSING:
            if now_ms - last >= min(max(rtt_ms, 10), 200) or (
                acked_bps is not None and acked_bps < 0.5 * self.bps
            ):
                self._decrease(acked_bps, now_ms)
            return
        if state == UNDERUSING:
            self._increasing = False
            return
        if not self._increasing:  # normal after hold: start increasing from now
            self._increasing, self._last_change_ms = True, now_ms
            return
        if acked_bps is not None and acked_bps > self._upper_bps():
            self._capacity_kbps = None  # the path grew past what we knew
        elapsed_s = min(now_ms - last, 1_000) / 1000
        if self._capacity_kbps is not None:
            grown = self.bps + _near_capacity_bps_per_s(self.bps, rtt_ms) * elapsed_s
        else:
            grown = self.bps + max(self.bps * (INCREASE_PER_S**elapsed_s - 1), 1000 * elapsed_s)
        if acked_bps is not None:
            limit = ACKED_HEADROOM * acked_bps + ACKED_HEADROOM_BPS
            grown = min(grown, max(limit, self.bps))
        self.bps, self._last_change_ms = int(grown), now_ms

    def _decrease(self, acked_bps: int | None, now_ms: int) -> None:
        if acked_bps is not None:
            if self._capacity_kbps is not None and acked_bps < self._lower_bps():
                self._capacity_kbps = None
            self._learn_capacity(acked_bps / 1000)
        decreased = int(BETA * (acked_bps if acked_bps is not None else self.bps))
        self.bps = min(self.bps, decreased)
        self._increasing, self._last_change_ms = False, now_ms

    def _learn_capacity(self, sample_kbps: float, alpha: float = 0.05) -> None:
        if self._capacity_kbps is None:
            self._capacity_kbps = sample_kbps
        else:
            self._capacity_kbps = (1 - alpha) * self._capacity_kbps + alpha * sample_kbps
        error = self._capacity_kbps - sample_kbps
        deviation = (1 - alpha) * self._deviation + alpha * error**2 / max(self._capacity_kbps, 1)
        self._deviation = min(max(deviation, 0.4), 2.5)

    def _spread_kbps(self) -> float:
        capacity = self._capacity_kbps or 0.0
        return 3 * math.sqrt(self._deviation * capacity)

    def _upper_bps(self) -> float:
        if self._capacity_kbps is None:
            return math.inf
        return (self._capacity_kbps + self._spread_kbps()) * 1000

    def _lower_bps(self) -> float:
        return max(0.0, (self._capacity_kbps or 0.0) - self._spread_kbps()) * 1000


def _near_capacity_bps_per_s(bps: int, rtt_ms: float) -> float:
    """About one packet per response time (RTT + 100 ms), packets sized as a 30 fps frame of
    ``bps`` cut into <= 1,200-byte packets."""
    frame_bits = bps / 30
    packet_bits = frame_bits / max(1, math.ceil(frame_bits / (8 * 1200)))
    return max(MIN_INCREASE_BPS_PER_S, packet_bits * 1000 / (rtt_ms + 100))
