# cython: language_level=3
"""Transport-cc feedback read from the wire, compiled: sfu/rtp/twcc_py.py is the spec. Symbols
are decoded into a C array, then the arrivals tuple is built in one pass."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int16_t, uint8_t
from libc.stdlib cimport free, malloc

cdef enum:
    DELTA_UNIT_US = 250  # twcc_py.DELTA_UNIT_US
    HEADER = 8  # twcc_py.FB_HEADER.size
    NOT_RECEIVED = 0
    SMALL = 1
    LARGE = 2
    MAX_RUN = 0x1FFF


def read_feedback(bytes fci not None):
    """See sfu.rtp.twcc_py.read_feedback."""
    return read_feedback_at(<const uint8_t*>PyBytes_AS_STRING(fci), PyBytes_GET_SIZE(fci))


cdef tuple read_feedback_at(const uint8_t* p, Py_ssize_t n):
    """read_feedback of the ``n`` bytes at ``p`` (a datagram's, without slicing it)."""
    cdef Py_ssize_t pos = HEADER, filled = 0, i, run
    cdef unsigned int chunk, count
    cdef long long ticks = 0
    cdef object value
    if n < HEADER:
        raise ValueError("twcc header truncated")
    count = p[2] << 8 | p[3]
    if count == 0:
        raise ValueError("twcc status count is zero")
    cdef uint8_t* symbols = <uint8_t*>malloc(count + 14)  # a vector may overshoot by 13
    if symbols == NULL:
        raise MemoryError()
    try:
        while filled < count:
            if pos + 2 > n:
                raise ValueError("twcc status chunks truncated")
            chunk = p[pos] << 8 | p[pos + 1]
            pos += 2
            if not chunk & 0x8000:
                run = min(chunk & MAX_RUN, count - filled)
                for i in range(run):
                    symbols[filled + i] = chunk >> 13 & 0x03
                filled += run
            elif not chunk & 0x4000:
                for i in range(14):
                    symbols[filled + i] = chunk >> (13 - i) & 0x01
                filled += 14
            else:
                for i in range(7):
                    symbols[filled + i] = chunk >> (12 - 2 * i) & 0x03
                filled += 7
        arrivals = PyTuple_New(count)
        for i in range(count):
            if symbols[i] == NOT_RECEIVED:
                Py_INCREF(None)
                PyTuple_SET_ITEM(arrivals, i, None)
                continue
            if symbols[i] == SMALL:
                if pos + 1 > n:
                    raise ValueError("twcc receive deltas truncated")
                ticks += p[pos]
                pos += 1
            elif symbols[i] == LARGE:
                if pos + 2 > n:
                    raise ValueError("twcc receive deltas truncated")
                ticks += <int16_t>(p[pos] << 8 | p[pos + 1])
                pos += 2
            else:
                raise ValueError("twcc reserved status symbol")
            value = ticks * DELTA_UNIT_US
            Py_INCREF(value)
            PyTuple_SET_ITEM(arrivals, i, value)
    finally:
        free(symbols)
    if n - pos > 3:
        raise ValueError("twcc data after receive deltas")
    cdef unsigned int word = <unsigned int>p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7]
    return p[0] << 8 | p[1], word >> 8, word & 0xFF, arrivals
