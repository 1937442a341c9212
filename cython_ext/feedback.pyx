# cython: language_level=3
"""A subscriber's transport-cc feedback into our send-side estimate, compiled:
sfu/media/feedback_py.py is the spec.

The datapath calls ``FeedbackReader._receive`` in C with each decrypted RTCP datagram of a
subscribe connection. A transport-cc feedback alone (what browsers send most) is read in place
(twcc.pxd) and given to the compiled estimator; Python runs only for a probe to send, an
estimate that moved enough to allocate again, or any other datagram (``on_compound``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t

from cython_ext.drops cimport DROP_TRANSPORT_FEEDBACK_STALE, DROP_TRANSPORT_FEEDBACK_UNKNOWN
from cython_ext.twcc cimport read_feedback_at

cdef enum:
    LONE_FEEDBACK = 0x80 | 15  # sfu.rtp.rtcp: version 2, no padding, FMT_TRANSPORT_CC
    RTPFB = 205
    SSRCS = 12  # the RTCP header and the two SSRCs before the feedback

cdef double REALLOCATE_RISE = 1.1  # feedback_py.REALLOCATE_RISE
STALE = "stale"  # bandwidth_estimator's drop verdicts


cdef class FeedbackReader:
    """See sfu.media.feedback_py.FeedbackReader."""

    def __init__(self, Counts counts not None, on_compound, on_change, on_probe):
        self._estimator = None
        self.send_side = False
        self._allocated_bps = 0
        self._counts = counts
        self._on_compound, self._on_change, self._on_probe = on_compound, on_change, on_probe

    @property
    def estimator(self):
        return self._estimator

    @estimator.setter
    def estimator(self, BandwidthEstimator estimator):
        self._estimator = estimator

    def on_rtcp(self, bytes data not None, long long now_ms):
        self._receive(data, now_ms)

    cdef int _receive(self, bytes data, long long now_ms) except -1:
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        if (
            n < SSRCS or p[0] != LONE_FEEDBACK or p[1] != RTPFB
            or 4 + 4 * (p[2] << 8 | p[3]) != n
        ):
            self._on_compound(data, now_ms)
            return 0
        try:
            base_seq, reference, count, arrivals = read_feedback_at(p + SSRCS, n - SSRCS)
        except ValueError:  # malformed: on_compound refuses it as every RTCP reader does
            self._on_compound(data, now_ms)
            return 0
        return self._take(count, base_seq, reference, arrivals, now_ms)

    def take(self, feedback, long long now_ms):
        """See feedback_py.FeedbackReader.take."""
        self._take(
            feedback.feedback_count, feedback.base_seq, feedback.reference_time,
            feedback.arrivals, now_ms,
        )

    cdef int _take(
        self, long long count, long long base_seq, long long reference, tuple arrivals,
        long long now_ms,
    ) except -1:
        if self._estimator is None:
            self._counts.drop(DROP_TRANSPORT_FEEDBACK_UNKNOWN, 1)
            return 0
        bps, _, probe, dropped = self._estimator._on_feedback(
            count, base_seq, reference, arrivals, now_ms
        )
        if dropped is not None:
            self._counts.drop(
                DROP_TRANSPORT_FEEDBACK_STALE if dropped == STALE
                else DROP_TRANSPORT_FEEDBACK_UNKNOWN, 1,
            )
            return 0
        self.send_side = True
        if probe is not None:
            self._on_probe(probe)
        if bps < self._allocated_bps or bps > REALLOCATE_RISE * self._allocated_bps:
            self._allocated_bps = bps
            self._on_change(now_ms)
        return 0
