# cython: language_level=3
"""Transport-wide seqs stamped as packets leave, and their log, compiled: sfu/webrtc/sendlog_py.py
is the spec. One C struct per packet in a ring, allocated once per subscriber transport."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint16_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from cython_ext.rtp cimport store16

cdef enum:
    LOG_SIZE = 2048  # sendlog_py.LOG_SIZE
    SEQ_AT = 17  # sfu.rtp.rtp_py.TRANSPORT_SEQ_AT
    UNKNOWN = 0


cdef class SendLog:
    """See sfu.webrtc.sendlog_py.SendLog."""

    def __init__(self, int extension_id, Py_ssize_t size=LOG_SIZE):
        cdef Py_ssize_t i
        if not 1 <= extension_id <= 14:
            raise ValueError("transport-cc extension id out of range")
        if not 1 <= size <= 0x10000 or size & (size - 1):
            raise ValueError("send log size must be a power of two up to 65536")
        self._marker = extension_id << 4 | 1
        self._mask = size - 1
        free(self._entries)
        self._entries = <Entry*>malloc(size * sizeof(Entry))
        if self._entries == NULL:
            raise MemoryError()
        for i in range(size):
            self._entries[i].seq = -1
        self.next_seq = 0
        self.probe = 0

    def __dealloc__(self):
        free(self._entries)

    def stamp(self, bytes data not None, long long now_ms):
        """``data`` with the next seq in its slot, logged: see sendlog_py."""
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        out = PyBytes_FromStringAndSize(NULL, n)
        memcpy(PyBytes_AS_STRING(out), PyBytes_AS_STRING(data), n)
        before = self.next_seq
        self._stamp(<uint8_t*>PyBytes_AS_STRING(out), n, now_ms)
        return out if self.next_seq != before else data

    cdef void _stamp(self, uint8_t* p, Py_ssize_t n, long long now_ms) noexcept nogil:
        if (
            n < SEQ_AT + 2 or p[0] & 0xDF != 0x90 or p[12] != 0xBE or p[13] != 0xDE
            or p[SEQ_AT - 1] != self._marker
        ):
            return
        store16(p + SEQ_AT, <uint16_t>self._record(n, now_ms))

    def record(self, Py_ssize_t size, long long now_ms):
        """Log a packet of ``size`` bytes leaving now; its extended seq."""
        return self._record(size, now_ms)

    cdef long long _record(self, Py_ssize_t size, long long now_ms) noexcept nogil:
        cdef long long seq = self.next_seq
        cdef Entry* e = &self._entries[seq & self._mask]
        e.seq, e.ms, e.size, e.probe, e.fate = seq, now_ms, <uint16_t>size, self.probe, UNKNOWN
        self.next_seq = seq + 1
        return seq

    def sent(self, long long seq):
        """The packet last sent with 16-bit ``seq``, while the log holds it."""
        cdef Entry* e = &self._entries[seq & self._mask]
        if e.seq < 0 or (e.seq & 0xFFFF) != (seq & 0xFFFF):
            return None
        return e.seq, e.ms, e.size, e.probe, e.fate

    def judge(self, long long seq, int fate):
        """Keep what feedback said of the packet sent with 16-bit ``seq`` (if still held)."""
        cdef Entry* e = &self._entries[seq & self._mask]
        if e.seq >= 0 and (e.seq & 0xFFFF) == (seq & 0xFFFF):
            e.fate = fate
