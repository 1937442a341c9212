# cython: language_level=3
"""What a subscription recently sent, compiled: sfu/media/history_py.py is the spec.

``_put`` runs once per forwarded packet (from cython_ext.forwarder, at C speed), into a C array
of a few dozen bytes per slot; ``answer`` walks a
NACK's FCI in C (a 1,200-byte NACK names 5,049 sequence numbers), deduplicating with a bitmap of
the 65,536 sequence numbers, and rations resends as the spec does, line for line, on C arrays.
Import through sfu.media.kernels.
"""

from libc.stdlib cimport calloc, free
from libc.string cimport memset

cdef enum:
    HISTORY_SIZE = 512       # sfu.media.history_py.HISTORY_SIZE
    RESEND_INTERVAL_MS = 100  # sfu.media.history_py.RESEND_INTERVAL_MS
    MAX_RESENDS = 2           # sfu.media.history_py.MAX_RESENDS
    RESEND_RATE_PER_S = 100   # sfu.media.history_py.RESEND_RATE_PER_S
    RESEND_BURST = 100        # sfu.media.history_py.RESEND_BURST


cdef class PacketHistory:
    """See sfu.media.history_py.PacketHistory."""

    def __cinit__(self, int size=HISTORY_SIZE):
        if size < 1 or size & (size - 1):
            raise ValueError("history size must be a power of two")
        self._mask = size - 1
        self._slots = <Sent*>calloc(size, sizeof(Sent))
        if self._slots == NULL:
            raise MemoryError()
        for i in range(size):
            self._slots[i].seq = -1
        self._valid_from = -1
        self._credit = RESEND_BURST * 1000
        self._credit_ms = 0

    def __dealloc__(self):
        free(self._slots)

    def put(
        self, long long seq, int layer, long long ext_seq, long long timestamp, int picture_id,
        int tl0picidx,
    ):
        """Sent ``seq`` (16-bit): the stored packet (layer, ext_seq) with this numbering."""
        self._put(seq, layer, ext_seq, timestamp, picture_id, tl0picidx)

    def forget_before(self, long long seq):
        """Packets sent before ``seq`` (16-bit) are no longer worth resending."""
        self._valid_from = seq

    def answer(self, bytes fci not None, long long now_ms):
        """The packets to resend for a generic NACK (its FCI), in the order asked; how many
        sequence numbers it asked for beyond what the history holds; how many resends the
        subscription's rate refused."""
        cdef const unsigned char* data = fci
        cdef Py_ssize_t items = len(fci) // 4
        cdef Py_ssize_t i, index
        cdef unsigned char seen[8192]  # one bit per sequence number
        cdef unsigned int asked, bit, seq
        cdef long long distinct = 0, limit = self._mask + 1, refused = 0
        cdef list packets = []
        cdef Sent* sent
        memset(seen, 0, sizeof(seen))
        self._refill(now_ms)
        for i in range(items):
            seq = data[4 * i] << 8 | data[4 * i + 1]
            # bit 0: the pid itself; bit k: the pid + k (bit k - 1 of the bitmask of lost packets)
            asked = (data[4 * i + 2] << 8 | data[4 * i + 3]) << 1 | 1
            for bit in range(17):
                if asked >> bit & 1 and not seen[seq >> 3] & (1 << (seq & 7)):
                    seen[seq >> 3] |= 1 << (seq & 7)
                    distinct += 1
                    if distinct <= limit:
                        index = seq & self._mask
                        sent = &self._slots[index]
                        if sent.seq >= 0 and self._resendable(index, seq, now_ms):
                            if self._credit < 1000:
                                refused += 1
                            else:
                                self._credit -= 1000
                                sent.resends += 1
                                sent.resent_ms = now_ms
                                packets.append((
                                    sent.layer, sent.ext_seq, sent.seq, sent.timestamp,
                                    sent.picture_id, sent.tl0picidx,
                                ))
                seq = (seq + 1) & 0xFFFF
        return packets, max(0, distinct - limit), refused

    cdef bint _resendable(self, Py_ssize_t index, long long seq, long long now_ms):
        cdef Sent* sent = &self._slots[index]
        if sent.seq != seq or sent.resends >= MAX_RESENDS:
            return False
        if self._valid_from >= 0 and 0 < (self._valid_from - seq) & 0xFFFF < 0x8000:
            return False
        return not (sent.resends and now_ms - sent.resent_ms < RESEND_INTERVAL_MS)

    cdef void _refill(self, long long now_ms):
        cdef long long elapsed = now_ms - self._credit_ms
        if elapsed > 0:
            self._credit = min(RESEND_BURST * 1000, self._credit + elapsed * RESEND_RATE_PER_S)
        self._credit_ms = now_ms
