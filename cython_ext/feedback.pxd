# The compiled feedback reader (sfu/media/feedback_py.py), for the datapath to call without Python.
from cython_ext.bandwidth_estimator cimport BandwidthEstimator
from cython_ext.counts cimport Counts


cdef class FeedbackReader:
    cdef BandwidthEstimator _estimator
    cdef public bint send_side
    cdef long long _allocated_bps
    cdef Counts _counts
    cdef object _on_compound, _on_change, _on_probe

    cdef int _receive(self, bytes data, long long now_ms) except -1
    cdef int _take(
        self, long long count, long long base_seq, long long reference, tuple arrivals,
        long long now_ms,
    ) except -1
