"""A subscriber's RTCP through the feedback reader: a transport-cc feedback sent alone goes to the
estimator without the compound walk, everything else (compounds, malformed datagrams) to
``on_compound``; Python is called only for a probe or an estimate worth a new allocation. The
compiled reader does exactly what its spec does."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from cython_ext.twins import IMPLEMENTATIONS
from sfu.media.bandwidth_estimator_py import Probe
from sfu.media.counters import DropReason
from sfu.media.feedback_py import FeedbackReader
from sfu.rtp.rtcp import build_pli, build_rr, build_transport_feedback, parse_compound
from sfu.rtp.twcc import TransportFeedback
from sfu.webrtc.sendlog_py import SendLog
from tests.support.kernels import Kernels
from tests.support.kernels import kernels as kernels_of

STALE = DropReason.TRANSPORT_FEEDBACK_STALE.code
UNKNOWN = DropReason.TRANSPORT_FEEDBACK_UNKNOWN.code


@dataclass
class Rig:
    """One column's reader, with what it hands to Python recorded; ``on_compound`` takes a
    compound's feedback as SubscriberFeedback does."""

    kernels: Kernels
    compounds: list[tuple[bytes, int]] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = self.kernels.counts.Counts()
        self.log: SendLog = self.kernels.sendlog.SendLog(5)
        self.reader: FeedbackReader = self.kernels.feedback.FeedbackReader(
            self.counts, self._compound, self.changes.append, self.probes.append
        )

    def stamp(self) -> None:
        arrivals = self.kernels.arrivals.Arrivals(self.log)
        self.reader.estimator = self.kernels.bandwidth_estimator.BandwidthEstimator(
            arrivals, 1_000_000, 30_000, 20_000_000
        )

    def _compound(self, data: bytes, now_ms: int) -> None:
        self.compounds.append((data, now_ms))
        try:
            packets = parse_compound(data)
        except ValueError:
            return
        for packet in packets:
            if isinstance(packet, TransportFeedback):
                self.reader.take(packet, now_ms)

    def state(self) -> tuple[object, ...]:
        estimator = self.reader.estimator
        return (
            self.compounds,
            self.changes,
            [tuple(p) for p in self.probes],
            self.reader.send_side,
            self.counts.dropped(STALE),
            self.counts.dropped(UNKNOWN),
            None if estimator is None else (estimator.bps, estimator.acked_bps, estimator.state),
        )


@dataclass(frozen=True)
class Sends:
    packets: int
    gap_ms: int


@dataclass(frozen=True)
class Datagram:
    back: int  # the first seq reported, behind the next one to be sent
    count: int
    count_step: int
    loss: float
    seed: int
    delay_ms: int
    damage: str  # how the datagram differs from a well-formed lone feedback
    position: int


def _damaged(data: bytes, damage: str, position: int) -> bytes:
    at = position % len(data)
    if damage == "flip":
        return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :]
    if damage == "cut":
        return data[:at]
    if damage == "rr first":
        return build_rr(9, []) + data
    if damage == "pli after":
        return data + build_pli(1, 2)
    if damage == "junk after":
        return data + bytes(4)
    return data


_ops = st.lists(
    st.one_of(
        st.builds(Sends, st.integers(1, 40), st.integers(0, 15)),
        st.builds(Datagram, st.integers(0, 100), st.integers(1, 60),
                  st.one_of(st.just(1), st.integers(0, 255)), st.floats(0, 0.3),
                  st.integers(0, 2**16), st.integers(0, 300),
                  st.sampled_from(["none"] * 4 + ["flip", "cut", "rr first", "pli after",
                                                  "junk after"]),
                  st.integers(0, 2**16)),
    ),
    max_size=50,
)  # fmt: skip


@settings(max_examples=300)
@given(_ops, st.booleans())
def test_the_compiled_reader_reads_as_its_spec_does(
    ops: list[Sends | Datagram], stamped: bool
) -> None:
    """Random sends and datagrams (lone feedback, late, lost, repeated, about unsent seqs;
    damaged, cut, inside a compound): the same calls into Python, counters and estimates."""
    rigs = [Rig(kernels_of(implementation)) for implementation in IMPLEMENTATIONS]
    if stamped:
        for rig in rigs:
            rig.stamp()
    log = rigs[1].log
    now, count = 0, 0
    for op in ops:
        if isinstance(op, Sends):
            for _ in range(op.packets):
                now += op.gap_ms
                for rig in rigs:
                    rig.log.record(1_000, now)
            continue
        base = log.next_seq - op.back
        rng = random.Random(op.seed)
        reported = []
        for i in range(op.count):
            sent = log.sent((base + i) & 0xFFFF)
            lost = rng.random() < op.loss
            reported.append(None if lost else (sent[1] if sent is not None else 0) * 1_000)
        count = (count + op.count_step) & 0xFF
        feedback = TransportFeedback(1, 2, base & 0xFFFF, 10, count, tuple(reported))
        data = _damaged(build_transport_feedback(feedback), op.damage, op.position)
        now += op.delay_ms
        for rig in rigs:
            rig.reader.on_rtcp(data, now)
        assert rigs[0].state() == rigs[1].state()


def test_a_lone_feedback_is_taken_without_python_and_the_rest_goes_to_on_compound(
    kernels: Kernels,
) -> None:
    rig = Rig(kernels)
    rig.stamp()
    for ms in range(40):
        rig.log.record(1_200, ms)
    lone = build_transport_feedback(
        TransportFeedback(1, 2, 0, 10, 0, tuple(1_000 * i for i in range(20)))
    )
    rig.reader.on_rtcp(lone, 60)
    assert rig.compounds == [] and rig.reader.send_side
    assert rig.changes == [60]  # the first estimate: allocate at once
    assert len(rig.probes) == 1  # and the estimator's first probe
    rig.reader.on_rtcp(lone, 70)  # the same feedback count again: stale
    assert rig.counts.dropped(STALE) == 1 and rig.compounds == []
    later = TransportFeedback(1, 2, 20, 10, 1, tuple(20_000 + 1_000 * i for i in range(20)))
    compound = build_rr(9, []) + build_transport_feedback(later)
    rig.reader.on_rtcp(compound, 80)
    assert rig.compounds == [(compound, 80)]
    assert rig.reader.estimator is not None and rig.reader.estimator.arrivals.received == 40
    assert rig.changes == [60]  # the estimate did not move 10 % either way


def test_feedback_before_our_rtp_is_stamped_is_about_nothing_we_sent(kernels: Kernels) -> None:
    rig = Rig(kernels)
    data = build_transport_feedback(TransportFeedback(1, 2, 0, 10, 0, (0, 1_000)))
    rig.reader.on_rtcp(data, 10)
    assert rig.counts.dropped(UNKNOWN) == 1
    assert not rig.reader.send_side and rig.compounds == [] and rig.changes == []


def test_a_malformed_lone_feedback_goes_to_on_compound(kernels: Kernels) -> None:
    """Where every RTCP reader refuses it the same way (SubscriberFeedback counts it)."""
    rig = Rig(kernels)
    rig.stamp()
    good = build_transport_feedback(TransportFeedback(1, 2, 0, 10, 0, (0, 1_000)))
    truncated = good[:12] + good[12:16]  # status chunks cut off
    truncated = truncated[:2] + ((len(truncated) // 4) - 1).to_bytes(2) + truncated[4:]
    rig.reader.on_rtcp(truncated, 10)
    assert rig.compounds == [(truncated, 10)]
    assert rig.counts.dropped(UNKNOWN) == rig.counts.dropped(STALE) == 0


def test_python_is_told_when_the_estimate_moved_more_than_a_tenth(kernels: Kernels) -> None:
    """Five seconds of a downlink that takes everything: the estimate grows, and each rise
    beyond 10 % of the estimate last handed on (or any fall) asks for an allocation."""
    rig = Rig(kernels)
    rig.stamp()
    estimates: list[tuple[int, int]] = []
    now, count = 0, 0
    while now < 5_000:
        base = rig.log.next_seq
        for _ in range(50):
            now += 1
            rig.log.record(1_200, now)
        arrivals = tuple((now - 49 + i) * 1_000 for i in range(50))
        feedback = TransportFeedback(1, 2, base & 0xFFFF, 0, count, arrivals)
        count = (count + 1) & 0xFF
        rig.reader.on_rtcp(build_transport_feedback(feedback), now + 5)
        assert rig.reader.estimator is not None
        estimates.append((now + 5, rig.reader.estimator.bps))
    expected, handed_on = [], 0
    for at, bps in estimates:
        if bps < handed_on or bps > 1.1 * handed_on:
            expected.append(at)
            handed_on = bps
    assert rig.changes == expected
    assert len(expected) >= 4 and estimates[-1][1] > 1.5 * estimates[0][1]
