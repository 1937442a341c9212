# The compiled estimator (sfu/media/bandwidth_estimator_py.py), for the feedback reader to call
# without Python (cython_ext/feedback.pyx).

cdef class BandwidthEstimator:
    cdef public long long floor_bps, ceiling_bps, probe_limit_bps, bps, delay_bps, loss_bps
    cdef public object state
    cdef public double loss, rtt_ms
    cdef public long long feedback_duplicate, feedback_out_of_order, feedback_unknown
    cdef public long long packets_forgotten
    cdef readonly object arrivals
    cdef long long _fb_count, _reference, _reference_raw
    cdef long long _rate_bps, _rate_last_change_ms
    cdef bint _rate_increasing, _rate_changed, _has_capacity
    cdef double _capacity_kbps, _deviation
    cdef long long _loss_window_start, _last_loss_update, _last_loss_decrease
    cdef object _probe
    cdef long long _probe_started, _probe_sent, _next_probe_id, _last_probe_ms, _last_probe_bps
    cdef bint _measured

    cdef object _on_feedback(
        self, long long count, long long base_seq, long long raw, tuple reported,
        long long now_ms,
    )
    cdef long long _unwrap_reference(self, long long raw)
    cdef object _update(self, long long now_ms)
    cdef object _proven(self, probed)
    cdef void _loss_based(self, long long now_ms) except *
    cdef object _probe_result(self, long long now_ms)
    cdef object _next_probe(self, probed, long long now_ms)
    cdef void _rate_update(self, acked_bps, long long now_ms) except *
    cdef void _rate_decrease(self, bint has_acked, long long acked, long long now_ms) noexcept
    cdef void _learn_capacity(self, double sample_kbps) noexcept
    cdef double _spread_kbps(self) noexcept
    cdef double _upper_bps(self) noexcept
    cdef double _lower_bps(self) noexcept
