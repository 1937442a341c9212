# The C-level state of a subscription's PacketHistory (sfu/media/history.py), for fanout.pyx.

cdef class PacketHistory:
    cdef:
        Py_ssize_t _mask
        list _slots              # the packets, by sequence number & mask
        long long* _seqs
        int* _resends
        long long* _resent_ms
        long long _valid_from

    cpdef put(self, long long seq, bytes packet)
