# The compiled feedback reader (sfu/rtp/twcc_py.py), for cython_ext/feedback.pyx to read a
# datagram's feedback in place.
from libc.stdint cimport uint8_t

cdef tuple read_feedback_at(const uint8_t* p, Py_ssize_t n)
