# The C-level state of a subscription's PacketHistory (sfu/media/history_py.py), for the
# compiled forwarder.

cdef struct Sent:           # 32 bytes: each field as narrow as its range
    long long ext_seq      # where the packet is stored: its layer and extended sequence number
    long long resent_ms
    int seq                # -1: empty; else the 16-bit number it went out with
    unsigned int timestamp # and its 32-bit timestamp
    short picture_id       # 15 bits, -1: none
    short tl0picidx        # 8 bits, -1: none
    signed char layer
    signed char resends


cdef class PacketHistory:
    cdef:
        Py_ssize_t _mask
        Sent* _slots           # by sequence number & mask
        long long _valid_from
        long long _credit        # resends allowed now, in thousandths (the rate limit)
        long long _credit_ms

    cdef inline void _put(
        self, long long seq, int layer, long long ext_seq, long long timestamp, int picture_id,
        int tl0picidx,
    ) noexcept:
        cdef Sent* s = &self._slots[seq & self._mask]
        s.seq, s.layer, s.ext_seq, s.timestamp = seq, layer, ext_seq, timestamp
        s.picture_id, s.tl0picidx, s.resends = picture_id, tl0picidx, 0

    cdef bint _resendable(self, Py_ssize_t index, long long seq, long long now_ms)
    cdef void _refill(self, long long now_ms)
