# cython: language_level=3
"""A subscription's recently sent packets, compiled: sfu/media/history.py is the spec.

``put`` runs once per forwarded packet (from cython_ext.fanout, at C speed); the rationing of
``resend`` is the spec's, line for line, on C arrays. Import through sfu.rtp.fastpath.
"""

from libc.stdlib cimport calloc, free

cdef enum:
    HISTORY_SIZE = 512       # sfu.media.history.HISTORY_SIZE
    RESEND_INTERVAL_MS = 100  # sfu.media.history.RESEND_INTERVAL_MS
    MAX_RESENDS = 2           # sfu.media.history.MAX_RESENDS


cdef class PacketHistory:
    """See sfu.media.history.PacketHistory."""

    def __cinit__(self, int size=HISTORY_SIZE):
        if size < 1 or size & (size - 1):
            raise ValueError("history size must be a power of two")
        self._mask = size - 1
        self._slots = [None] * size
        self._seqs = <long long*>calloc(size, sizeof(long long))
        self._resends = <int*>calloc(size, sizeof(int))
        self._resent_ms = <long long*>calloc(size, sizeof(long long))
        if self._seqs == NULL or self._resends == NULL or self._resent_ms == NULL:
            raise MemoryError()
        for i in range(size):
            self._seqs[i] = -1
        self._valid_from = -1

    def __dealloc__(self):
        free(self._seqs)
        free(self._resends)
        free(self._resent_ms)

    cpdef put(self, long long seq, bytes packet):
        cdef Py_ssize_t index = seq & self._mask
        self._slots[index] = packet
        self._seqs[index] = seq
        self._resends[index] = 0

    def forget_before(self, long long seq):
        """Packets sent before ``seq`` (16-bit) are no longer worth resending."""
        self._valid_from = seq

    def resend(self, long long seq, long long now_ms):
        """The packet to resend for a NACK of ``seq``, or None if it is not to be resent."""
        cdef Py_ssize_t index = seq & self._mask
        if self._seqs[index] != seq or self._resends[index] >= MAX_RESENDS:
            return None
        if self._valid_from >= 0 and 0 < (self._valid_from - seq) & 0xFFFF < 0x8000:
            return None
        if self._resends[index] and now_ms - self._resent_ms[index] < RESEND_INTERVAL_MS:
            return None
        self._resends[index] += 1
        self._resent_ms[index] = now_ms
        return self._slots[index]
