# The C-level state of a subscription's PacketHistory (sfu/media/history_py.py), for fanout.pyx.

cdef class PacketHistory:
    cdef:
        Py_ssize_t _mask
        list _slots              # the packets, by sequence number & mask
        long long* _seqs
        int* _resends
        long long* _resent_ms
        long long _valid_from
        long long _credit        # resends allowed now, in thousandths (the rate limit)
        long long _credit_ms

    cpdef put(self, long long seq, bytes packet)
    cdef bint _resendable(self, Py_ssize_t index, long long seq, long long now_ms)
    cdef void _refill(self, long long now_ms)
