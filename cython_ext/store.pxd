# The C-level ring of sfu/media/store_py.py, for the compiled ingest.
from cython_ext.packet cimport RtpPacket


cdef class PacketStore:
    cdef Py_ssize_t _mask
    cdef list _slots

    cdef inline void _put(self, RtpPacket packet):
        self._slots[packet.ext_seq & self._mask] = packet

    cdef inline bint _has(self, long long ext_seq):
        packet = self._slots[ext_seq & self._mask]
        return packet is not None and (<RtpPacket>packet).ext_seq == ext_seq
