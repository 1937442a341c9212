# The datagram classifier of sfu/rtp/demux_py.py (RFC 7983 §7, RFC 5761 §4), inline for the
# datapath; its kinds have the spec's values (tests/cython_ext/test_vocabulary.py checks).
from libc.stdint cimport uint8_t


cdef enum:
    OTHER = 0
    STUN = 1
    DTLS = 2
    RTP = 3
    RTCP = 4


cdef inline int kind_of(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef uint8_t first = p[0] if n > 0 else 255
    if first < 4:
        return STUN
    if 19 < first < 64:
        return DTLS
    if 127 < first < 192:
        return RTCP if n > 1 and 191 < p[1] < 224 else RTP
    return OTHER
