# The C-level send log of sfu/webrtc/sendlog_py.py, for the datapath to stamp with.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t


cdef struct Entry:
    int64_t seq       # extended; -1: empty
    int64_t ms
    int32_t probe
    uint16_t size     # datagrams are at most 2048 bytes (the datapath's SLOT)
    uint8_t fate


cdef class SendLog:
    cdef Entry* _entries
    cdef Py_ssize_t _mask
    cdef uint8_t _marker
    cdef readonly long long next_seq
    cdef public int probe

    # Write the next seq into p[:n]'s slot and log it; nothing if it has none (see stamp()).
    cdef void _stamp(self, uint8_t* p, Py_ssize_t n, long long now_ms) noexcept nogil
    cdef long long _record(self, Py_ssize_t size, long long now_ms) noexcept nogil
