# cython: language_level=3
"""Reception statistics of one RTP stream, compiled: sfu/media/stats_py.py is the spec, line for
line (the jitter is the same IEEE double arithmetic)."""

from libc.stdlib cimport llabs


cdef class StreamStats:
    """See sfu.media.stats_py.StreamStats."""

    def __init__(self, long long clock_rate):
        self.clock_rate = clock_rate
        self.highest = -1
        self.received = 0
        self._base = -1
        self._expected_prior = self._received_prior = 0
        self._has_transit = False
        self._jitter = 0.0
        self.last_sr_ntp = self.last_sr_rtp = 0
        self.last_sr_at_ms = -1

    def extend(self, long long seq):
        """The extended sequence number ``seq`` would get, without accounting for it."""
        return self._extend(seq)

    def update(
        self, long long seq, long long timestamp, long long arrival_ms, bint repaired=False
    ):
        """Account for one packet; return its extended sequence number."""
        cdef long long ext = self._extend(seq)
        self._account(ext, timestamp, arrival_ms, repaired)
        return ext

    def account(
        self, long long ext, long long timestamp, long long arrival_ms, bint repaired=False
    ):
        """See sfu.media.stats_py.StreamStats.account."""
        self._account(ext, timestamp, arrival_ms, repaired)

    cdef long long _extend(self, long long seq) noexcept:
        cdef long long delta
        if self.highest < 0:  # sfu.rtp.seqnum.unwrap16
            return seq
        delta = (seq - self.highest) & 0xFFFF
        if delta >= 0x8000:
            delta -= 0x10000
        return self.highest + delta

    cdef void _account(
        self, long long ext, long long timestamp, long long arrival_ms, bint repaired
    ) noexcept:
        cdef long long transit, d
        if self._base < 0:
            self._base = ext
        if ext > self.highest:
            self.highest = ext
        self.received += 1
        if repaired:
            return
        # Python's floor division of arrival * rate by 1000: arrival_ms is never negative
        transit = arrival_ms * self.clock_rate // 1000 - timestamp
        if self._has_transit:
            d = llabs(transit - self._transit)
            if d < self.clock_rate * 10:
                self._jitter += (d - self._jitter) / 16
        self._transit, self._has_transit = transit, True

    def on_sender_report(self, unsigned long long ntp, long long rtp_timestamp, long long now_ms):
        self.last_sr_ntp = ntp
        self.last_sr_rtp = rtp_timestamp
        self.last_sr_at_ms = now_ms

    def report(self, long long now_ms):
        """The fields of a receiver report block since the last call (RFC 3550 §6.4.1)."""
        cdef long long expected = self.highest - self._base + 1
        cdef long long lost = max(0, expected - self.received)
        cdef long long expected_interval = expected - self._expected_prior
        cdef long long received_interval = self.received - self._received_prior
        cdef long long lost_interval = expected_interval - received_interval
        cdef long long fraction = 0, lsr = 0, dlsr = 0
        self._expected_prior, self._received_prior = expected, self.received
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        if self.last_sr_at_ms >= 0:
            lsr = (self.last_sr_ntp >> 16) & 0xFFFFFFFF
            dlsr = (now_ms - self.last_sr_at_ms) * 65536 // 1000
        return (
            min(fraction, 255), min(lost, 0x7FFFFF), self.highest & 0xFFFFFFFF,
            <long long>self._jitter, lsr, dlsr,
        )
