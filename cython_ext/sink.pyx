# cython: language_level=3
"""The C-level RTP destination interface (see sink.pxd); it has no Python twin: the pure path
calls ``send_rtp`` as any Python callable."""


cdef class RtpSink:
    cdef bint _send_rtp(self, bytes data) except -1:
        raise NotImplementedError("an RtpSink subclass sends")


def sink_of(send_rtp):
    """The compiled sink behind ``send_rtp`` (a bound method of one), or None."""
    owner = getattr(send_rtp, "__self__", None)
    return owner if isinstance(owner, RtpSink) else None
