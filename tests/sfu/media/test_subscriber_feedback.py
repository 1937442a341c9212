"""A subscribe connection's feedback on what we send it: the downlink estimate is our own
send-side one once transport-cc feedback arrives, the subscriber's REMB until then; feedback that
is stale, about packets never sent, or malformed is dropped and counted."""

from __future__ import annotations

from sfu.media.counters import DropReason, MediaCounters
from sfu.media.egress import SubscriberFeedback
from sfu.rtp.rtcp import build_pli, build_remb, build_transport_feedback
from sfu.rtp.twcc import TransportFeedback
from sfu.webrtc.kernels import SendLog


class Rig:
    def __init__(self) -> None:
        self.counters = MediaCounters()
        self.changes: list[int] = []
        self.probes: list[object] = []
        self.feedback = SubscriberFeedback(
            self.counters, self.changes.append, self.probes.append, initial_bps=800_000
        )
        self.log = SendLog(5)
        for ms in range(100):
            self.log.record(1_200, ms)

    def transport_feedback(self, base: int, count: int, arrivals: int, now_ms: int) -> None:
        feedback = TransportFeedback(
            1, 2, base, 100, count, tuple(1_000 * i for i in range(arrivals))
        )
        self.feedback.on_rtcp(build_transport_feedback(feedback), now_ms)


def test_remb_until_transport_cc_feedback_arrives_then_our_estimate() -> None:
    rig = Rig()
    rig.feedback.on_rtcp(build_remb(1, 600_000, [7]), 10)
    assert (rig.feedback.estimate_bps, rig.feedback.send_side) == (600_000, False)
    assert rig.changes == [10]
    rig.feedback.use_send_log(rig.log)
    assert rig.feedback.estimate_bps == 600_000  # no feedback yet: still the REMB
    rig.transport_feedback(0, 0, 20, 120)
    estimator = rig.feedback.estimator
    assert estimator is not None and rig.feedback.send_side
    assert rig.feedback.estimate_bps == estimator.bps
    assert 700_000 <= estimator.bps <= 900_000  # from the initial 800 kbit/s
    assert rig.changes == [10, 120]  # the allocation reacts at once to the first estimate
    rig.feedback.on_rtcp(build_remb(1, 100_000, [7]), 130)
    assert rig.feedback.estimate_bps == estimator.bps  # a REMB no longer decides
    assert rig.changes == [10, 120]
    assert len(rig.probes) == 1  # the estimator's first probe, handed to the sender


def test_stale_and_unknown_feedback_is_dropped_and_counted() -> None:
    rig = Rig()
    rig.transport_feedback(0, 0, 10, 100)  # nothing was stamped: no log to match it to
    assert rig.counters.dropped(DropReason.TRANSPORT_FEEDBACK_UNKNOWN.code) == 1
    rig.feedback.use_send_log(rig.log)
    rig.transport_feedback(0, 5, 10, 110)
    rig.transport_feedback(10, 5, 10, 120)  # the same feedback count again
    rig.transport_feedback(10, 4, 10, 130)  # an older one
    assert rig.counters.dropped(DropReason.TRANSPORT_FEEDBACK_STALE.code) == 2
    rig.transport_feedback(95, 6, 10, 140)  # runs past the last seq sent (99)
    rig.transport_feedback(30_000, 7, 3, 150)  # never sent
    assert rig.counters.dropped(DropReason.TRANSPORT_FEEDBACK_UNKNOWN.code) == 3
    rig.transport_feedback(10, 8, 10, 160)
    assert rig.feedback.send_side
    assert rig.counters.dropped(DropReason.TRANSPORT_FEEDBACK_STALE.code) == 2
    assert rig.counters.dropped(DropReason.TRANSPORT_FEEDBACK_UNKNOWN.code) == 3


def test_malformed_feedback_is_malformed_rtcp() -> None:
    rig = Rig()
    rig.feedback.use_send_log(rig.log)
    good = build_transport_feedback(TransportFeedback(1, 2, 0, 100, 0, (0, 1_000)))
    truncated = good[:-4]
    rig.feedback.on_rtcp(truncated[:2] + (len(truncated) // 4 - 1).to_bytes(2) + truncated[4:], 10)
    assert rig.counters.dropped(DropReason.MALFORMED_RTCP.code) == 1
    assert not rig.feedback.send_side


class Stream:
    """A down track as the feedback sees it: its SSRC, and the PLIs it is handed."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.keyframe_requests: list[int] = []

    def request_keyframe(self, now_ms: int) -> None:
        self.keyframe_requests.append(now_ms)


def test_a_down_track_taking_over_an_ssrc_keeps_its_feedback_when_the_old_one_goes() -> None:
    """A WHEP player's next source sends on the m-line's SSRC: removing the source it replaced
    (in any order) must not take the SSRC's feedback from it."""
    rig = Rig()
    old, new = Stream(0xABC), Stream(0xABC)
    rig.feedback.add(old)  # type: ignore[arg-type]
    rig.feedback.add(new)  # type: ignore[arg-type]
    rig.feedback.remove(old)  # type: ignore[arg-type]
    rig.feedback.on_rtcp(build_pli(1, 0xABC), 10)
    assert (old.keyframe_requests, new.keyframe_requests) == ([], [10])
    rig.feedback.remove(new)  # type: ignore[arg-type]
    rig.feedback.on_rtcp(build_pli(1, 0xABC), 20)
    assert new.keyframe_requests == [10]
