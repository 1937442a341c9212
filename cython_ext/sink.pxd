# Where compiled code can send RTP without a Python call: the datapath's Peer is one. The
# forwarder (media) knows this interface, not the datapath (webrtc) that implements it.
from libc.stdint cimport uint8_t

from cython_ext.rtp cimport Header


cdef class RtpSink:
    cdef bint _send_rtp(self, bytes data) except -1
    # rewrite(p, n, payload_offset, h) sent: its length, or 0 when it was not sent. The Peer
    # writes it straight into its send slot; this default makes the bytes and _send_rtp's them.
    cdef Py_ssize_t _send_rewritten(
        self, const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h
    ) except -1
