# cython: language_level=3
"""One layer's received packets, compiled: sfu/media/store_py.py is the spec."""

from cython_ext.packet cimport RtpPacket

cdef enum:
    STORE_SIZE = 512  # sfu.media.store_py.STORE_SIZE


cdef class PacketStore:
    """See sfu.media.store_py.PacketStore."""

    def __init__(self, Py_ssize_t size=STORE_SIZE):
        if size < 1 or size & (size - 1):
            raise ValueError("store size must be a power of two")
        self._mask = size - 1
        self._slots = [None] * size

    def put(self, RtpPacket packet not None):
        self._put(packet)

    def get(self, long long ext_seq):
        """The packet received with ``ext_seq``, if it is still stored."""
        packet = self._slots[ext_seq & self._mask]
        if packet is not None and (<RtpPacket>packet).ext_seq == ext_seq:
            return packet
        return None

    def after(self, long long ext_seq, Py_ssize_t depth):
        """The stored packets ``ext_seq + 1`` to ``ext_seq + depth``, in sequence order."""
        cdef Py_ssize_t i
        cdef list found = []
        for i in range(1, min(depth, self._mask) + 1):
            packet = self.get(ext_seq + i)
            if packet is not None:
                found.append(packet)
        return found
