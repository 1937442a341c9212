# The C-level counters of sfu/media/counts_py.py, bumped by the compiled ingest.

cdef enum:
    MAX_CODE = 64  # counts_py.MAX_CODE


cdef class Counts:
    cdef public long long packets_in, bytes_in, packets_out, bytes_out
    cdef public long long retransmits, clamped_estimates
    cdef public long long uplink_nacked, uplink_recovered, uplink_unrecovered
    cdef long long _drops[MAX_CODE]

    cdef inline void drop(self, int code, long long count) noexcept:
        if 0 <= code < MAX_CODE:
            self._drops[code] += count
