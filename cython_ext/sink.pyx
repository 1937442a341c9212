# cython: language_level=3
"""The C-level RTP destination interface (see sink.pxd); it has no Python twin: the pure path
calls ``send_rtp`` as any Python callable."""

from libc.stdint cimport uint8_t

from cython_ext.rtp cimport Header, rewrite


cdef class RtpSink:
    cdef bint _send_rtp(self, bytes data) except -1:
        raise NotImplementedError("an RtpSink subclass sends")

    cdef Py_ssize_t _send_rewritten(
        self, const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h
    ) except -1:
        data = rewrite(p, n, payload_offset, h)
        return len(data) if self._send_rtp(data) else 0


def sink_of(send_rtp):
    """The compiled sink behind ``send_rtp`` (a bound method of one), or None."""
    owner = getattr(send_rtp, "__self__", None)
    return owner if isinstance(owner, RtpSink) else None
