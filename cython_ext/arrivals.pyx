# cython: language_level=3
"""What transport-cc feedback says arrived, compiled: sfu/media/arrivals_py.py is the spec. The
send log's entries are read and judged in place; groups, trendline and the acked window are C
state, so a feedback costs Python only for its tuple of arrivals."""

from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

from cython_ext.sendlog cimport Entry, SendLog

cdef enum:
    UNKNOWN = 0  # arrivals_py verdicts
    LOST = 1
    RECEIVED = 2
    GROUP_MS = 5
    BURST_MS = 5
    MAX_BURST_MS = 100
    TREND_WINDOW = 20
    TREND_MAX_DELTAS = 60
    OVERUSE_MS = 10
    ACKED_WINDOW_MS = 500
    ACKED_INITIAL = 256  # entries of the acked ring before it grows
    ACKED_MAX = 16384  # arrivals_py.ACKED_MAX: it grows no further

cdef double TREND_SMOOTHING = 0.9
cdef double TREND_GAIN = 4.0
cdef double THRESHOLD_MS = 12.5
cdef double THRESHOLD_MIN_MS = 6.0
cdef double THRESHOLD_MAX_MS = 600.0
cdef double K_UP = 0.0087
cdef double K_DOWN = 0.039
cdef double MAX_ADAPT_OFFSET_MS = 15.0

NORMAL, OVERUSING, UNDERUSING = "normal", "overusing", "underusing"


cdef struct Acked:
    double arrival_ms
    long long size


cdef class Arrivals:
    """See sfu.media.arrivals_py.Arrivals."""

    cdef readonly SendLog sent
    cdef public object acked_bps
    cdef public long long lost, received
    cdef public long long probe
    cdef public list probe_got
    cdef readonly str state
    # groups: [first send, last send, first arrival, last arrival] of the current and previous
    cdef bint _has_current, _has_previous
    cdef double _current[4]
    cdef double _previous[4]
    # trendline
    cdef int _deltas
    cdef double _accumulated, _smoothed, _first_trend_ms, _trend, _threshold
    cdef bint _has_first_trend, _has_last_threshold
    cdef double _last_threshold_ms, _overuse_ms
    cdef int _overuse_count
    cdef double _window_x[TREND_WINDOW]
    cdef double _window_y[TREND_WINDOW]
    cdef int _window_start, _window_len
    # acked window: a ring that grows
    cdef Acked* _acked
    cdef Py_ssize_t _acked_cap, _acked_head, _acked_len
    cdef long long _acked_bytes
    cdef bint _has_first_arrival
    cdef double _first_arrival_ms

    def __init__(self, SendLog sent not None):
        self.sent = sent
        self.acked_bps = None
        self.lost = self.received = 0
        self.probe = -1
        self.probe_got = []
        self.state = NORMAL
        self._has_current = self._has_previous = False
        self._deltas = 0
        self._accumulated = self._smoothed = self._trend = 0.0
        self._threshold = THRESHOLD_MS
        self._has_first_trend = self._has_last_threshold = False
        self._overuse_ms, self._overuse_count = -1.0, 0
        self._window_start = self._window_len = 0
        free(self._acked)
        self._acked = <Acked*>malloc(ACKED_INITIAL * sizeof(Acked))
        if self._acked == NULL:
            raise MemoryError()
        self._acked_cap, self._acked_head, self._acked_len = ACKED_INITIAL, 0, 0
        self._acked_bytes = 0
        self._has_first_arrival = False

    def __dealloc__(self):
        free(self._acked)

    def take(self, long long base, tuple arrivals not None, long long reference_us):
        """See arrivals_py.Arrivals.take."""
        cdef SendLog sent = self.sent
        cdef Entry* e
        cdef Py_ssize_t i, n = len(arrivals)
        cdef long long held = 0, acked_bytes = 0, newest_send_ms = -1, ext
        cdef double arrival_ms
        for i in range(n):
            ext = base + i
            e = &sent._entries[ext & 0xFFFF & sent._mask]
            if e.seq < 0 or e.seq != ext:
                continue
            held += 1
            arrival = arrivals[i]
            if arrival is None:
                if e.fate == UNKNOWN:
                    e.fate = LOST
                    self.lost += 1
                continue
            if e.fate == RECEIVED:
                continue
            if e.fate == LOST and self.lost:
                self.lost -= 1
            e.fate = RECEIVED
            self.received += 1
            arrival_ms = <double>(reference_us + <long long>arrival) / 1000.0
            self._group(<double>e.ms, arrival_ms)
            self._append_acked(arrival_ms, e.size)
            acked_bytes += e.size
            newest_send_ms = e.ms
            if e.probe == self.probe:
                self.probe_got.append((e.ms, arrival_ms, e.size))
        if held:
            self._acked_bytes += acked_bytes
            self._measure_acked()
        return held, newest_send_ms

    cdef void _append_acked(self, double arrival_ms, long long size) except *:
        cdef Acked* grown
        cdef Py_ssize_t i, cap = self._acked_cap
        if self._acked_len == ACKED_MAX:  # the oldest goes
            self._acked_bytes -= self._acked[self._acked_head].size
            self._acked_head = (self._acked_head + 1) % cap
            self._acked_len -= 1
        if self._acked_len == cap:
            grown = <Acked*>realloc(self._acked, 2 * cap * sizeof(Acked))
            if grown == NULL:
                raise MemoryError()
            for i in range(self._acked_head):  # the wrapped part moves past the old end
                grown[cap + i] = grown[i]
            self._acked, self._acked_cap = grown, 2 * cap
        cdef Acked* slot = &self._acked[(self._acked_head + self._acked_len) % self._acked_cap]
        slot.arrival_ms, slot.size = arrival_ms, size
        self._acked_len += 1

    cdef void _measure_acked(self):
        if self._acked_len == 0:
            return
        if not self._has_first_arrival:
            self._has_first_arrival = True
            self._first_arrival_ms = self._acked[self._acked_head].arrival_ms
        cdef double newest = self._acked[
            (self._acked_head + self._acked_len - 1) % self._acked_cap
        ].arrival_ms
        while (
            self._acked_len
            and self._acked[self._acked_head].arrival_ms <= newest - ACKED_WINDOW_MS
        ):
            self._acked_bytes -= self._acked[self._acked_head].size
            self._acked_head = (self._acked_head + 1) % self._acked_cap
            self._acked_len -= 1
        if newest - self._first_arrival_ms >= ACKED_WINDOW_MS:
            self.acked_bps = self._acked_bytes * 8_000 // ACKED_WINDOW_MS

    cdef void _group(self, double send_ms, double arrival_ms) noexcept:
        """arrivals_py._Groups.add, feeding the trendline each completed group."""
        cdef double* current = self._current
        cdef double arrival_delta
        if not self._has_current:
            self._has_current = True
            current[0] = current[1] = send_ms
            current[2] = current[3] = arrival_ms
            return
        if send_ms < current[0]:
            return
        if send_ms - current[0] <= GROUP_MS or self._burst(send_ms, arrival_ms):
            current[1] = max(current[1], send_ms)
            current[3] = max(current[3], arrival_ms)
            return
        cdef bint had_previous = self._has_previous
        cdef double previous_last_send = self._previous[1]
        cdef double previous_last_arrival = self._previous[3]
        memcpy(self._previous, current, 4 * sizeof(double))
        self._has_previous = True
        current[0] = current[1] = send_ms
        current[2] = current[3] = arrival_ms
        if not had_previous:
            return
        arrival_delta = self._previous[3] - previous_last_arrival
        if arrival_delta < 0:
            return
        self._update_trend(
            arrival_delta, self._previous[1] - previous_last_send, self._previous[3]
        )

    cdef bint _burst(self, double send_ms, double arrival_ms) noexcept:
        cdef double arrival_delta = arrival_ms - self._current[3]
        return (
            arrival_delta - (send_ms - self._current[1]) < 0
            and arrival_delta <= BURST_MS
            and arrival_ms - self._current[2] < MAX_BURST_MS
        )

    cdef void _update_trend(self, double arrival_delta, double send_delta, double arrival_ms) noexcept:
        """arrivals_py._Trendline.update."""
        cdef int at
        if not self._has_first_trend:
            self._has_first_trend = True
            self._first_trend_ms = arrival_ms
        self._deltas = min(self._deltas + 1, 1000)
        self._accumulated += arrival_delta - send_delta
        self._smoothed = TREND_SMOOTHING * self._smoothed + (1 - TREND_SMOOTHING) * (
            self._accumulated
        )
        if self._window_len < TREND_WINDOW:
            at = self._window_len
            self._window_len += 1
        else:
            at = self._window_start
            self._window_start = (self._window_start + 1) % TREND_WINDOW
        self._window_x[at] = arrival_ms - self._first_trend_ms
        self._window_y[at] = self._smoothed
        cdef double trend = self._trend
        if self._window_len == TREND_WINDOW:
            trend = self._slope(trend)
        self._detect(trend, send_delta, arrival_ms)

    cdef double _slope(self, double default) noexcept:
        cdef int i, at
        cdef double sum_x = 0.0, sum_y = 0.0, mean_x, mean_y, dx
        cdef double numerator = 0.0, denominator = 0.0
        for i in range(TREND_WINDOW):
            at = (self._window_start + i) % TREND_WINDOW
            sum_x += self._window_x[at]
            sum_y += self._window_y[at]
        mean_x, mean_y = sum_x / TREND_WINDOW, sum_y / TREND_WINDOW
        for i in range(TREND_WINDOW):
            at = (self._window_start + i) % TREND_WINDOW
            dx = self._window_x[at] - mean_x
            numerator += dx * (self._window_y[at] - mean_y)
            denominator += dx * dx
        return default if denominator == 0 else numerator / denominator

    cdef void _detect(self, double trend, double send_delta, double now_ms) noexcept:
        if self._deltas < 2:
            self._trend = trend
            return
        cdef double modified = min(self._deltas, TREND_MAX_DELTAS) * trend * TREND_GAIN
        if modified > self._threshold:
            if self._overuse_ms < 0:
                self._overuse_ms = send_delta / 2
            else:
                self._overuse_ms = self._overuse_ms + send_delta
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

    cdef void _adapt(self, double modified, double now_ms) noexcept:
        cdef bint had_last = self._has_last_threshold
        cdef double last = self._last_threshold_ms
        cdef double k
        self._has_last_threshold, self._last_threshold_ms = True, now_ms
        if not had_last or modified > self._threshold + MAX_ADAPT_OFFSET_MS:
            return
        k = K_DOWN if modified < self._threshold else K_UP
        self._threshold += k * (modified - self._threshold) * min(now_ms - last, 100)
        self._threshold = min(max(self._threshold, THRESHOLD_MIN_MS), THRESHOLD_MAX_MS)
