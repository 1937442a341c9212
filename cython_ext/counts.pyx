# cython: language_level=3
"""The node's packet counters, compiled: sfu/media/counts_py.py is the spec."""

from libc.string cimport memset


cdef class Counts:
    """See sfu.media.counts_py.Counts."""

    def __cinit__(self):
        memset(self._drops, 0, sizeof(self._drops))

    def add_drop(self, int code, long long count=1):
        if not 0 <= code < MAX_CODE:
            raise ValueError(f"drop code {code} out of range")
        self._drops[code] += count

    def dropped(self, int code):
        if not 0 <= code < MAX_CODE:
            raise ValueError(f"drop code {code} out of range")
        return self._drops[code]
