# cython: language_level=3
"""The per-feedback half of the send-side estimator, compiled: sfu/media/bandwidth_estimator_py.py
is the spec, step for step (the same float operations in the same order, so both reach the same
estimates). Each subscriber's feedback runs it ten to twenty times a second; in Python it was the
larger part of a subscriber's RTCP cost. ``arrivals`` is the compiled per-packet half, reached
through its Python attributes (a few per feedback)."""

from collections import namedtuple

from libc.math cimport INFINITY, ceil, pow, sqrt

NORMAL, OVERUSING, UNDERUSING = "normal", "overusing", "underusing"  # arrivals_py's states
STALE, UNKNOWN_PACKETS = "stale", "unknown"

Probe = namedtuple("Probe", "id bps duration_ms")
Estimate = namedtuple("Estimate", "bps acked_bps probe dropped", defaults=(None, None))

cdef enum:
    REFERENCE_UNIT_US = 64_000  # twcc_py.REFERENCE_UNIT_US
    MIN_INCREASE_BPS_PER_S = 4_000
    ACKED_HEADROOM_BPS = 10_000
    LOSS_MIN_PACKETS = 50
    LOSS_MIN_MS = 500
    LOSS_DECREASE_MS = 300
    PROBE_INTERVAL_MS = 1_500
    PROBE_DURATION_MS = 15
    PROBE_MIN_PACKETS = 5
    PROBE_TIMEOUT_MS = 1_000

cdef double INCREASE_PER_S = 1.08
cdef double BETA = 0.85
cdef double ACKED_HEADROOM = 1.5
cdef double LOSS_LOW = 0.02, LOSS_HIGH = 0.10
cdef double FURTHER_PROBE = 0.7
cdef double SATURATED = 0.9, SATURATED_USE = 0.95
cdef double CAPACITY_ALPHA = 0.05
cdef long long LONG_AGO = -(10**9)


cdef inline long long _unwrap16(long long last_ext, long long seq) noexcept:
    """sfu.rtp.seqnum.unwrap16."""
    cdef long long delta
    if last_ext < 0:
        return seq
    delta = (seq - last_ext) & 0xFFFF
    if delta >= 0x8000:
        delta -= 0x10000
    return last_ext + delta


cdef double _near_capacity_bps_per_s(long long bps, double rtt_ms) noexcept:
    cdef double frame_bits = bps / 30.0
    cdef double packet_bits = frame_bits / max(1.0, ceil(frame_bits / (8 * 1200)))
    return max(<double>MIN_INCREASE_BPS_PER_S, packet_bits * 1000 / (rtt_ms + 100))


cdef class BandwidthEstimator:
    """See sfu.media.bandwidth_estimator_py.BandwidthEstimator (``_Aimd`` is inlined: its fields
    are the ``_rate_*`` and ``_capacity_*`` ones)."""

    def __init__(self, arrivals, long long initial_bps, long long floor_bps, long long ceiling_bps):
        self.floor_bps, self.ceiling_bps = floor_bps, ceiling_bps
        self.probe_limit_bps = ceiling_bps
        self.bps = self.delay_bps = self.loss_bps = min(max(initial_bps, floor_bps), ceiling_bps)
        self.state = NORMAL
        self.loss = 0.0
        self.rtt_ms = 100.0
        self.feedback_duplicate = self.feedback_out_of_order = self.feedback_unknown = 0
        self.packets_forgotten = 0
        self.arrivals = arrivals
        self._fb_count = -1
        self._reference = -1
        self._reference_raw = 0
        self._rate_bps = self.bps
        self._rate_increasing = True
        self._rate_changed = False  # _Aimd._last_change_ms is not None
        self._rate_last_change_ms = 0
        self._has_capacity = False
        self._capacity_kbps = 0.0
        self._deviation = 0.4
        self._loss_window_start = -1
        self._last_loss_update = -1
        self._last_loss_decrease = LONG_AGO
        self._probe = None
        self._probe_started = self._probe_sent = 0
        self._next_probe_id = 1
        self._last_probe_ms = LONG_AGO
        self._last_probe_bps = 0
        self._measured = False

    def on_probe_sent(self, probe, long long packets):
        if self._probe is not None and probe.id == self._probe.id:
            self._probe_sent += packets

    def on_feedback(self, feedback, long long now_ms):
        return self._on_feedback(
            feedback.feedback_count, feedback.base_seq, feedback.reference_time,
            feedback.arrivals, now_ms,
        )

    cdef object _on_feedback(
        self, long long count, long long base_seq, long long raw, tuple reported,
        long long now_ms,
    ):
        """on_feedback of a feedback's fields (``raw``: its reference time), for C callers."""
        cdef long long step, newest_sent, base, reference, held, newest_send_ms
        if self._fb_count >= 0:
            step = (count - self._fb_count) & 0xFF
            if step == 0:
                self.feedback_duplicate += 1
                return Estimate(self.bps, self.acked_bps, dropped=STALE)
            if step >= 0x80:
                self.feedback_out_of_order += 1
                return Estimate(self.bps, self.acked_bps, dropped=STALE)
        arrivals = self.arrivals
        newest_sent = arrivals.sent.next_seq - 1
        base = _unwrap16(newest_sent, base_seq)
        if newest_sent < 0 or base + len(reported) - 1 > newest_sent:
            self.feedback_unknown += 1
            return Estimate(self.bps, self.acked_bps, dropped=UNKNOWN_PACKETS)
        reference = self._unwrap_reference(raw)
        held, newest_send_ms = arrivals.take(base, reported, reference * REFERENCE_UNIT_US)
        if not held:
            self.feedback_unknown += 1
            return Estimate(self.bps, self.acked_bps, dropped=UNKNOWN_PACKETS)
        self._fb_count, self._reference, self._reference_raw = count, reference, raw
        self.packets_forgotten += len(reported) - held
        if newest_send_ms >= 0:
            self.rtt_ms = 0.9 * self.rtt_ms + 0.1 * max(0, now_ms - newest_send_ms)
        self.state = arrivals.state
        return self._update(now_ms)

    @property
    def acked_bps(self):
        return self.arrivals.acked_bps

    cdef long long _unwrap_reference(self, long long raw):
        cdef long long step
        if self._reference < 0:
            return raw
        step = (raw - self._reference_raw) & 0xFFFFFF
        return self._reference + (step - 0x1000000 if step >= 0x800000 else step)

    cdef object _update(self, long long now_ms):
        probed = self._proven(self._probe_result(now_ms))
        if probed is not None and self.state != OVERUSING:
            self._rate_bps, self._rate_last_change_ms, self._rate_changed = probed, now_ms, True
            self.loss_bps = max(self.loss_bps, <long long>probed)
        else:
            self._rate_update(self.acked_bps, now_ms)
        self.delay_bps = self._rate_bps
        self._loss_based(now_ms)
        self.bps = min(max(min(self.delay_bps, self.loss_bps), self.floor_bps), self.ceiling_bps)
        self.loss_bps = self.bps
        self._rate_bps = min(self._rate_bps, self.bps)
        return Estimate(self.bps, self.acked_bps, self._next_probe(probed, now_ms))

    cdef object _proven(self, probed):
        acked = self.acked_bps
        if self._measured or acked is None:
            return probed
        self._measured = True
        return acked if probed is None and acked > self._rate_bps else probed

    cdef void _loss_based(self, long long now_ms) except *:
        cdef double elapsed_s
        cdef long long lost, received
        cdef bint judged
        if self._last_loss_update < 0:
            self._last_loss_update = self._loss_window_start = now_ms
        elapsed_s = min(now_ms - self._last_loss_update, 1_000) / 1000.0
        self._last_loss_update = now_ms
        lost, received = self.arrivals.lost, self.arrivals.received
        judged = (
            lost + received >= LOSS_MIN_PACKETS and now_ms - self._loss_window_start >= LOSS_MIN_MS
        )
        if judged:
            self.loss = lost / <double>(lost + received)
            self.arrivals.lost = self.arrivals.received = 0
            self._loss_window_start = now_ms
        if self.loss < LOSS_LOW:
            self.loss_bps = <long long>(
                self.loss_bps * pow(INCREASE_PER_S, elapsed_s) + 1000 * elapsed_s
            )
        elif (
            judged
            and self.loss > LOSS_HIGH
            and now_ms - self._last_loss_decrease >= LOSS_DECREASE_MS + self.rtt_ms
        ):
            self.loss_bps = <long long>(self.loss_bps * (1 - 0.5 * self.loss))
            self._last_loss_decrease = now_ms

    cdef object _probe_result(self, long long now_ms):
        """Rare (a probe's end, every 1.5 s at most): Python objects, as the spec has them."""
        probe = self._probe
        if probe is None:
            return None
        got = self.arrivals.probe_got
        complete = len(got) >= max(PROBE_MIN_PACKETS, 0.8 * self._probe_sent)
        if not complete and now_ms - self._probe_started < PROBE_TIMEOUT_MS:
            return None
        self._probe = None
        self.arrivals.probe, self.arrivals.probe_got = -1, []
        if len(got) < PROBE_MIN_PACKETS:
            return None
        send_span = max([s for s, _, _ in got]) - min([s for s, _, _ in got])
        by_arrival = sorted(got, key=lambda p: p[1])
        recv_span = by_arrival[len(by_arrival) - 1][1] - by_arrival[0][1]  # no wraparound here
        if send_span <= 0 or recv_span <= 0:
            return None
        total = sum([size for _, _, size in got])
        sent_bps = (total - max(got)[2]) * 8_000 / send_span
        received_bps = (total - by_arrival[0][2]) * 8_000 / recv_span
        if received_bps < SATURATED * sent_bps:
            return int(SATURATED_USE * received_bps)
        if min(sent_bps, received_bps) <= self._rate_bps:
            return None
        return int(min(sent_bps, received_bps))

    cdef object _next_probe(self, probed, long long now_ms):
        cdef long long limit = min(self.ceiling_bps, self.probe_limit_bps)
        if (
            self._probe is not None
            or self.state == OVERUSING
            or self.loss > LOSS_HIGH
            or self.bps >= limit
        ):
            return None
        further = probed is not None and probed >= FURTHER_PROBE * self._last_probe_bps
        if not further and now_ms - self._last_probe_ms < PROBE_INTERVAL_MS:
            return None
        probe = Probe(self._next_probe_id, min(2 * self.bps, limit), PROBE_DURATION_MS)
        self._probe, self._next_probe_id = probe, self._next_probe_id + 1
        self.arrivals.probe = probe.id
        self._probe_started = self._last_probe_ms = now_ms
        self._probe_sent, self._last_probe_bps = 0, probe.bps
        return probe

    # _Aimd (sfu.media.bandwidth_estimator_py)

    cdef void _rate_update(self, acked_bps, long long now_ms) except *:
        cdef long long last = self._rate_last_change_ms if self._rate_changed else now_ms
        cdef double elapsed_s, grown, limit
        cdef bint has_acked = acked_bps is not None
        cdef long long acked = acked_bps if has_acked else 0
        state = self.state
        if state == OVERUSING:
            if now_ms - last >= min(max(self.rtt_ms, 10.0), 200.0) or (
                has_acked and acked < 0.5 * self._rate_bps
            ):
                self._rate_decrease(has_acked, acked, now_ms)
            return
        if state == UNDERUSING:
            self._rate_increasing = False
            return
        if not self._rate_increasing:
            self._rate_increasing, self._rate_last_change_ms, self._rate_changed = True, now_ms, True
            return
        if has_acked and acked > self._upper_bps():
            self._has_capacity = False
        elapsed_s = min(now_ms - last, 1_000) / 1000.0
        if self._has_capacity:
            grown = self._rate_bps + _near_capacity_bps_per_s(self._rate_bps, self.rtt_ms) * elapsed_s
        else:
            grown = self._rate_bps + max(
                self._rate_bps * (pow(INCREASE_PER_S, elapsed_s) - 1), 1000 * elapsed_s
            )
        if has_acked:
            limit = ACKED_HEADROOM * acked + ACKED_HEADROOM_BPS
            grown = min(grown, max(limit, <double>self._rate_bps))
        self._rate_bps, self._rate_last_change_ms, self._rate_changed = (
            <long long>grown, now_ms, True
        )

    cdef void _rate_decrease(self, bint has_acked, long long acked, long long now_ms) noexcept:
        if has_acked:
            if self._has_capacity and acked < self._lower_bps():
                self._has_capacity = False
            self._learn_capacity(acked / 1000.0)
        cdef long long decreased = <long long>(BETA * (acked if has_acked else self._rate_bps))
        self._rate_bps = min(self._rate_bps, decreased)
        self._rate_increasing, self._rate_last_change_ms, self._rate_changed = False, now_ms, True

    cdef void _learn_capacity(self, double sample_kbps) noexcept:
        cdef double error, deviation
        if not self._has_capacity:
            self._capacity_kbps, self._has_capacity = sample_kbps, True
        else:
            self._capacity_kbps = (
                (1 - CAPACITY_ALPHA) * self._capacity_kbps + CAPACITY_ALPHA * sample_kbps
            )
        error = self._capacity_kbps - sample_kbps
        deviation = (1 - CAPACITY_ALPHA) * self._deviation + CAPACITY_ALPHA * (
            error * error
        ) / max(self._capacity_kbps, 1.0)
        self._deviation = min(max(deviation, 0.4), 2.5)

    cdef double _spread_kbps(self) noexcept:
        return 3 * sqrt(self._deviation * (self._capacity_kbps if self._has_capacity else 0.0))

    cdef double _upper_bps(self) noexcept:
        if not self._has_capacity:
            return INFINITY
        return (self._capacity_kbps + self._spread_kbps()) * 1000

    cdef double _lower_bps(self) noexcept:
        return max(0.0, (self._capacity_kbps if self._has_capacity else 0.0)
                   - self._spread_kbps()) * 1000
