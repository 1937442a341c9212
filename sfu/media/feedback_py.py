"""A subscriber's transport-cc feedback into our send-side estimate: the spec of
cython_ext/feedback.pyx.

Browsers send this feedback alone in a datagram, ten to twenty times a second per subscriber: the
RTCP a node gets most. ``FeedbackReader.on_rtcp`` reads such a datagram and feeds the estimator
(in the compiled twin, called by the datapath in C, without Python); Python hears only of what
needs it: a probe to send, or an estimate that moved enough to allocate again. Every other
datagram, a malformed one included, goes to ``on_compound``, which also brings here, through
``take``, a feedback that came inside a compound.
"""

from __future__ import annotations

from collections.abc import Callable

from sfu.media.bandwidth_estimator_py import STALE, UNKNOWN_PACKETS, BandwidthEstimator, Probe
from sfu.media.counters import DropReason
from sfu.media.counts_py import Counts
from sfu.rtp.rtcp import lone_transport_feedback
from sfu.rtp.twcc import TransportFeedback

# A send-side estimate this much above the one the allocation last saw is worth a new allocation
# at once (falls always are); smaller rises wait for the next tick.
REALLOCATE_RISE = 1.1
_DROPS = {
    STALE: DropReason.TRANSPORT_FEEDBACK_STALE.code,
    UNKNOWN_PACKETS: DropReason.TRANSPORT_FEEDBACK_UNKNOWN.code,
}


class FeedbackReader:
    """One subscribe connection's RTCP as it arrives: ``estimator`` is set once our RTP to it
    is stamped with transport-wide seqs (until then its feedback is about nothing we sent)."""

    def __init__(
        self,
        counts: Counts,
        on_compound: Callable[[bytes, int], None],
        on_change: Callable[[int], None],
        on_probe: Callable[[Probe], None],
    ) -> None:
        self.estimator: BandwidthEstimator | None = None
        self.send_side = False  # a feedback was taken: the estimate is ours
        self._allocated_bps = 0  # the estimate the last allocation we asked for saw
        self._counts = counts
        self._on_compound, self._on_change, self._on_probe = on_compound, on_change, on_probe

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        try:
            feedback = lone_transport_feedback(data)
        except ValueError:  # malformed: on_compound refuses it as every RTCP reader does
            feedback = None
        if feedback is None:
            self._on_compound(data, now_ms)
        else:
            self.take(feedback, now_ms)

    def take(self, feedback: TransportFeedback, now_ms: int) -> None:
        """One feedback: dropped and counted (stale, about packets we never sent), or taken."""
        estimator = self.estimator
        if estimator is None:
            self._counts.add_drop(DropReason.TRANSPORT_FEEDBACK_UNKNOWN.code)
            return
        estimate = estimator.on_feedback(feedback, now_ms)
        if estimate.dropped is not None:
            self._counts.add_drop(_DROPS[estimate.dropped])
            return
        self.send_side = True
        if estimate.probe is not None:
            self._on_probe(estimate.probe)
        if estimate.bps < self._allocated_bps or estimate.bps > REALLOCATE_RISE * (
            self._allocated_bps
        ):
            self._allocated_bps = estimate.bps
            self._on_change(now_ms)
