# The C-level state of sfu/media/stats_py.py's StreamStats, updated per packet by the ingest.

cdef class StreamStats:
    cdef public long long clock_rate, highest, received
    cdef public unsigned long long last_sr_ntp  # 32.32 fixed point: the top bit is set
    cdef public long long last_sr_rtp, last_sr_at_ms
    cdef long long _base, _expected_prior, _received_prior, _transit
    cdef bint _has_transit
    cdef double _jitter

    cdef long long _extend(self, long long seq) noexcept
    cdef void _account(
        self, long long ext, long long timestamp, long long arrival_ms, bint repaired
    ) noexcept
