"""What a subscriber's transport-cc feedback says arrived, packet by packet: the spec of
cython_ext/arrivals.pyx, the per-packet half of the send-side estimator
(``sfu.media.bandwidth_estimator_py`` is the per-feedback half: rate control, loss, probes).

Each reported packet is judged once in the transport's send log. Packets sent within 5 ms form a
group; when a group takes longer to arrive than it took to send, a queue is growing. A trendline
of that growth, compared with a threshold that adapts to the path's jitter, says overuse /
normal / underuse (goog_cc InterArrival and TrendlineEstimator). Beside it: the bytes acked over
the last 500 ms, the loss window's counts, and the packets of the probe being measured. This runs
for every packet a subscriber gets; compiled, feedback costs no Python per packet.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

# Inter-arrival groups (goog_cc InterArrival)
GROUP_MS = 5
BURST_MS = 5  # a packet this close behind its group, arriving early, is part of a burst
MAX_BURST_MS = 100
# Trendline filter and overuse detector (goog_cc TrendlineEstimator)
TREND_WINDOW = 20
TREND_SMOOTHING = 0.9
TREND_GAIN = 4.0
TREND_MAX_DELTAS = 60
THRESHOLD_MS = 12.5  # initial; adapts within [6, 600] at K_UP / K_DOWN per ms
THRESHOLD_MIN_MS, THRESHOLD_MAX_MS = 6.0, 600.0
K_UP, K_DOWN = 0.0087, 0.039
MAX_ADAPT_OFFSET_MS = 15.0  # a spike this far past the threshold does not move it
OVERUSE_MS = 10  # overuse must last this long (and two groups) before it counts
ACKED_WINDOW_MS = 500
# Arrivals the acked window holds at most (32 k pkt/s): a receiver whose reported arrival times
# stop advancing would otherwise keep every packet it acknowledges.
ACKED_MAX = 16_384

UNKNOWN, LOST, RECEIVED = 0, 1, 2  # what feedback said of a packet (the log keeps it)
# A logged packet: (extended transport seq, send ms, size in bytes, probe id or 0, verdict)
Sent = tuple[int, int, int, int, int]
NORMAL, OVERUSING, UNDERUSING = "normal", "overusing", "underusing"


class SentPackets(Protocol):
    """What the transport logged of the packets it stamped (``sfu.webrtc.sendlog_py.SendLog``),
    by 16-bit transport seq, while it holds them."""

    @property
    def next_seq(self) -> int: ...

    def sent(self, seq: int) -> Sent | None: ...

    def judge(self, seq: int, fate: int) -> None: ...


class Arrivals:
    """One per subscriber transport, over its send log ``sent``. ``state`` is the detector's
    signal; ``lost`` and ``received`` count the loss window (the estimator empties it); packets
    logged with probe id ``probe`` are collected in ``probe_got`` as (send ms, arrival ms,
    size)."""

    __slots__ = (
        "_acked",
        "_acked_bytes",
        "_first_arrival_ms",
        "_groups",
        "_trend",
        "acked_bps",
        "lost",
        "probe",
        "probe_got",
        "received",
        "sent",
    )

    def __init__(self, sent: SentPackets) -> None:
        self.sent = sent
        self.acked_bps: int | None = None  # what the receiver got over the last 500 ms
        self.lost = self.received = 0
        self.probe = -1
        self.probe_got: list[tuple[int, float, int]] = []
        self._groups = _Groups()
        self._trend = _Trendline()
        self._acked: deque[tuple[float, int]] = deque()
        self._acked_bytes = 0
        self._first_arrival_ms: float | None = None

    @property
    def state(self) -> str:
        return self._trend.state

    def take(
        self, base: int, arrivals: tuple[int | None, ...], reference_us: int
    ) -> tuple[int, int]:
        """The feedback on extended seqs ``base``, ``base + 1``, ...: per seq µs after
        ``reference_us`` of the receiver's clock, or None (not received). Seqs the log no longer
        holds are skipped. (How many it held, the send ms of the newest that arrived or -1);
        nothing changes when it held none."""
        sent, groups, trend, acked = self.sent, self._groups, self._trend, self._acked
        held, acked_bytes, newest_send_ms = 0, 0, -1
        for i, arrival in enumerate(arrivals):
            seq = (base + i) & 0xFFFF
            packet = sent.sent(seq)
            if packet is None or packet[0] != base + i:
                continue
            held += 1
            _, send_ms, size, probe_id, fate = packet
            if arrival is None:
                if fate == UNKNOWN:
                    sent.judge(seq, LOST)
                    self.lost += 1
                continue
            if fate == RECEIVED:
                continue  # reported twice (feedback ranges may overlap)
            if fate == LOST and self.lost:
                self.lost -= 1  # late, not lost
            sent.judge(seq, RECEIVED)
            self.received += 1
            arrival_ms = (reference_us + arrival) / 1000
            delta = groups.add(send_ms, arrival_ms)
            if delta is not None:
                trend.update(*delta)
            if len(acked) == ACKED_MAX:
                self._acked_bytes -= acked.popleft()[1]
            acked.append((arrival_ms, size))
            acked_bytes += size
            newest_send_ms = send_ms
            if probe_id == self.probe:
                self.probe_got.append((send_ms, arrival_ms, size))
        if held:
            self._acked_bytes += acked_bytes
            self._measure_acked()
        return held, newest_send_ms

    def _measure_acked(self) -> None:
        if not self._acked:
            return
        if self._first_arrival_ms is None:
            self._first_arrival_ms = self._acked[0][0]
        newest = self._acked[-1][0]
        while self._acked and self._acked[0][0] <= newest - ACKED_WINDOW_MS:
            self._acked_bytes -= self._acked.popleft()[1]
        if newest - self._first_arrival_ms >= ACKED_WINDOW_MS:
            self.acked_bps = self._acked_bytes * 8_000 // ACKED_WINDOW_MS


class _Groups:
    """Packets sent within GROUP_MS of a group's first form one group; yields, per completed
    group, (arrival delta, send delta, arrival ms) against the group before it."""

    __slots__ = ("_current", "_previous")

    def __init__(self) -> None:
        self._current: list[float] | None = None  # first send, last send, first arr, last arr
        self._previous: list[float] | None = None

    def add(self, send_ms: int, arrival_ms: float) -> tuple[float, float, float] | None:
        current = self._current
        if current is None:
            self._current = [send_ms, send_ms, arrival_ms, arrival_ms]
            return None
        if send_ms < current[0]:
            return None  # reordered behind its group
        if send_ms - current[0] <= GROUP_MS or self._burst(current, send_ms, arrival_ms):
            current[1] = max(current[1], send_ms)
            current[3] = max(current[3], arrival_ms)
            return None
        previous, self._previous = self._previous, current
        self._current = [send_ms, send_ms, arrival_ms, arrival_ms]
        if previous is None:
            return None
        arrival_delta = current[3] - previous[3]
        if arrival_delta < 0:
            return None
        return arrival_delta, current[1] - previous[1], current[3]

    @staticmethod
    def _burst(current: list[float], send_ms: int, arrival_ms: float) -> bool:
        arrival_delta = arrival_ms - current[3]
        return (
            arrival_delta - (send_ms - current[1]) < 0
            and arrival_delta <= BURST_MS
            and arrival_ms - current[2] < MAX_BURST_MS
        )


class _Trendline:
    """The slope of smoothed accumulated delay against arrival time, and the overuse detector
    with its adaptive threshold."""

    def __init__(self) -> None:
        self.state = NORMAL
        self._deltas = 0
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._first_arrival_ms: float | None = None
        self._window: deque[tuple[float, float]] = deque(maxlen=TREND_WINDOW)
        self._trend = 0.0
        self._threshold = THRESHOLD_MS
        self._last_threshold_ms: float | None = None
        self._overuse_ms = -1.0
        self._overuse_count = 0

    def update(self, arrival_delta: float, send_delta: float, arrival_ms: float) -> None:
        if self._first_arrival_ms is None:
            self._first_arrival_ms = arrival_ms
        self._deltas = min(self._deltas + 1, 1000)
        self._accumulated += arrival_delta - send_delta
        self._smoothed = TREND_SMOOTHING * self._smoothed + (1 - TREND_SMOOTHING) * (
            self._accumulated
        )
        self._window.append((arrival_ms - self._first_arrival_ms, self._smoothed))
        trend = self._trend
        if len(self._window) == TREND_WINDOW:
            trend = _slope(self._window, trend)
        self._detect(trend, send_delta, arrival_ms)

    def _detect(self, trend: float, send_delta: float, now_ms: float) -> None:
        if self._deltas < 2:
            self._trend = trend
            return
        modified = min(self._deltas, TREND_MAX_DELTAS) * trend * TREND_GAIN
        if modified > self._threshold:
            self._overuse_ms = (
                send_delta / 2 if self._overuse_ms < 0 else (self._overuse_ms + send_delta)
            )
            self._overuse_count += 1
            if self._overuse_ms > OVERUSE_MS and self._overuse_count > 1 and trend >= self._trend:
                self._overuse_ms, self._overuse_count = 0.0, 0
                self.state = OVERUSING
        elif modified < -self._threshold:
            self._overuse_ms, self._overuse_count = -1.0, 0
            self.state = UNDERUSING
        else:
            self._overuse_ms, self._overuse_count = -1.0, 0
            self.state = NORMAL
        self._trend = trend
        self._adapt(abs(modified), now_ms)

    def _adapt(self, modified: float, now_ms: float) -> None:
        last, self._last_threshold_ms = self._last_threshold_ms, now_ms
        if last is None or modified > self._threshold + MAX_ADAPT_OFFSET_MS:
            return
        k = K_DOWN if modified < self._threshold else K_UP
        self._threshold += k * (modified - self._threshold) * min(now_ms - last, 100)
        self._threshold = min(max(self._threshold, THRESHOLD_MIN_MS), THRESHOLD_MAX_MS)


def _slope(points: deque[tuple[float, float]], default: float) -> float:
    """Least squares, centred (no cancellation however long the call)."""
    n = len(points)
    sum_x = sum_y = 0.0
    for x, y in points:
        sum_x += x
        sum_y += y
    mean_x, mean_y = sum_x / n, sum_y / n
    numerator = denominator = 0.0
    for x, y in points:
        dx = x - mean_x
        numerator += dx * (y - mean_y)
        denominator += dx * dx
    return default if denominator == 0 else numerator / denominator
