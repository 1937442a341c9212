"""The send-side estimator on simulated paths: a bottleneck link with a FIFO queue, a sender that
sends at the estimate (and the probes it asks for), a receiver that sends transport-cc feedback
every 50 or 100 ms as bytes through the RTCP parser. Deterministic: seeded loss, 1 ms steps."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cython_ext.twins import IMPLEMENTATIONS
from sfu.media.arrivals_py import RECEIVED
from sfu.media.bandwidth_estimator_py import (
    BETA,
    INCREASE_PER_S,
    PROBE_MIN_PACKETS,
    BandwidthEstimator,
    Probe,
    probe_plan,
)
from sfu.rtp.rtcp import build_transport_feedback, parse_compound
from sfu.rtp.twcc import TransportFeedback
from sfu.webrtc.sendlog_py import LOG_SIZE, SendLog
from tests.support.kernels import Kernels
from tests.support.kernels import kernels as kernels_of

MEDIA_PACKET = 1_200
ONE_WAY_MS = 20
QUEUE_LIMIT_MS = 300  # a drop-tail queue, as tc's tbf drops past its latency
FLOOR, CEILING = 30_000, 10_000_000
CLOCK_OFFSET_US = 123_456_789  # the receiver's clock has nothing to do with ours


@dataclass
class Run:
    estimates: list[tuple[int, int]] = field(default_factory=list)  # (ms, bps) per feedback
    probes: int = 0
    queue_ms: list[float] = field(default_factory=list)

    def first_at(self, after_ms: int, holds: Callable[[int], bool]) -> int | None:
        """Milliseconds after ``after_ms`` until the estimate first satisfies ``holds``."""
        return next(
            (t - after_ms for t, bps in self.estimates if t >= after_ms and holds(bps)), None
        )

    def during(self, start_ms: int, end_ms: int) -> list[int]:
        return [bps for t, bps in self.estimates if start_ms <= t < end_ms]


@dataclass(frozen=True)
class Column:
    """The send log, arrivals and estimator of one column of the kernels (every test here runs
    on the compiled estimator and on its spec)."""

    kernels: Kernels

    def log(self) -> SendLog:
        log: SendLog = self.kernels.sendlog.SendLog(5)
        return log

    def estimator(self, log: SendLog, initial_bps: int) -> BandwidthEstimator:
        arrivals = self.kernels.arrivals.Arrivals(log)
        estimator: BandwidthEstimator = self.kernels.bandwidth_estimator.BandwidthEstimator(
            arrivals, initial_bps, FLOOR, CEILING
        )
        return estimator

    def new_estimator(self, initial_bps: int, first_seq: int = 65_000) -> BandwidthEstimator:
        """An estimator on a fresh send log whose seqs start at ``first_seq`` (65,000: they
        wrap early, so the estimator must unwrap 16-bit seqs)."""
        log = self.log()
        for _ in range(first_seq):
            log.record(0, 0)
        return self.estimator(log, initial_bps)


@pytest.fixture
def column(kernels: Kernels) -> Column:
    return Column(kernels)


def simulate(
    capacity_at: Callable[[int], int],
    duration_ms: int,
    *,
    estimator: BandwidthEstimator,
    loss: float = 0.0,
    probing: bool = True,
    seed: int = 1,
    feedback_ms: int = 50,
    clock_offset_us: int = CLOCK_OFFSET_US,
) -> Run:
    rng = random.Random(seed)
    run = Run()
    log = estimator.arrivals.sent
    seq = log.next_seq
    budget = 0.0
    link_free = 0.0
    in_flight: list[tuple[float, int]] = []  # (arrival ms, extended seq), arrival order
    arrived: dict[int, int] = {}  # extended seq -> receiver µs, not yet reported
    next_report = seq
    feedback_count = 0
    to_sender: list[tuple[int, bytes]] = []
    probe: Probe | None = None
    probe_until = 0
    for now in range(duration_ms):
        while to_sender and to_sender[0][0] <= now:
            (parsed,) = parse_compound(to_sender.pop(0)[1])
            assert isinstance(parsed, TransportFeedback)
            estimate = estimator.on_feedback(parsed, now)
            run.estimates.append((now, estimate.bps))
            if estimate.probe is not None and probing:
                probe, probe_until = estimate.probe, now + estimate.probe.duration_ms
                run.probes += 1
        probing_now = probe is not None and now < probe_until
        rate = probe.bps if probe is not None and probing_now else estimator.bps
        size = MEDIA_PACKET
        if probe is not None and probing_now:  # at least PROBE_MIN_PACKETS packets per probe
            size = min(MEDIA_PACKET, probe.bps * probe.duration_ms // 8_000 // PROBE_MIN_PACKETS)
        budget = min(budget + rate / 8_000, 2.0 * size)
        while budget >= size:
            budget -= size
            log.probe = probe.id if probe and probing_now else 0
            seq = log.record(size, now)
            if probe is not None and probing_now:
                estimator.on_probe_sent(probe, 1)
            if rng.random() >= loss:
                start = max(float(now), link_free)
                if start - now <= QUEUE_LIMIT_MS:
                    link_free = start + size * 8_000 / capacity_at(now)
                    in_flight.append((link_free + ONE_WAY_MS, seq))
                    run.queue_ms.append(link_free - now)
        while in_flight and in_flight[0][0] <= now:
            arrival, arrived_seq = in_flight.pop(0)
            arrived[arrived_seq] = int(arrival * 1000) + clock_offset_us
        if now % feedback_ms == 0 and arrived:
            last = max(arrived)
            first_us = arrived[min(arrived)]
            reference = first_us // 64_000
            arrivals = tuple(
                arrived[s] - reference * 64_000 if s in arrived else None
                for s in range(next_report, last + 1)
            )
            feedback = TransportFeedback(
                1, 0, next_report & 0xFFFF, reference, feedback_count, arrivals
            )
            to_sender.append((now + ONE_WAY_MS, build_transport_feedback(feedback)))
            feedback_count, next_report = (feedback_count + 1) & 0xFF, last + 1
            arrived.clear()
    return run


def _cap(high: int, low: int, start_ms: int, end_ms: int) -> Callable[[int], int]:
    return lambda now: low if start_ms <= now < end_ms else high


@pytest.mark.parametrize("feedback_ms", [50, 100])
def test_follows_a_cap_within_2_s_and_its_release_within_3_s(
    column: Column, feedback_ms: int
) -> None:
    """2.5 Mbps, capped to 500 kbps at 15 s, lifted at 30 s: settles under the cap in ~0.6 s
    and finds the lifted cap in 0.8 s (50 ms feedback) / 1.2 s (100 ms), through probes."""
    high, low = 2_500_000, 500_000
    run = simulate(
        _cap(high, low, 15_000, 30_000),
        45_000,
        estimator=column.new_estimator(1_000_000),
        feedback_ms=feedback_ms,
    )
    assert max(run.during(10_000, 15_000)) <= 1.1 * high
    assert min(run.during(10_000, 15_000)) >= 0.6 * high
    down = run.first_at(15_000, lambda bps: bps <= low)
    assert down is not None and down <= 2_000
    capped = run.during(15_000 + 2_000, 30_000)
    assert max(capped) <= 1.1 * low  # under the cap, and not collapsed far below it
    assert sum(capped) / len(capped) >= 0.7 * low
    up = run.first_at(30_000, lambda bps: bps >= 0.8 * high)
    assert up is not None and up <= 3_000
    assert min(run.during(30_000 + up, 45_000)) >= 0.6 * high


def test_without_probes_it_grows_8_percent_per_second(column: Column) -> None:
    """Far from any known capacity (no overuse yet), AIMD's increase is multiplicative."""
    estimator = column.new_estimator(500_000)
    run = simulate(lambda now: 100_000_000, 6_000, estimator=estimator, probing=False)
    start, end = run.during(1_000, 1_100)[0], run.during(5_000, 5_100)[0]
    assert INCREASE_PER_S**4 * 0.93 <= end / start <= INCREASE_PER_S**4 * 1.07


def test_a_queue_building_cuts_the_estimate_to_085_of_what_arrived(column: Column) -> None:
    estimator = column.new_estimator(1_000_000)
    run = simulate(lambda now: 600_000, 3_000, estimator=estimator, probing=False)
    drops = [bps for (_, before), (_, bps) in itertools.pairwise(run.estimates) if bps < before]
    assert any(0.95 * BETA * 600_000 <= bps <= 1.05 * BETA * 600_000 for bps in drops)
    assert run.first_at(0, lambda bps: bps <= 600_000) is not None
    assert max(run.during(1_000, 3_000)) <= 600_000


def test_5_percent_random_loss_does_not_cut_the_estimate(column: Column) -> None:
    """Between 2 % and 10 % the loss rule holds; an uncongested link never signals overuse. A
    50-packet window sometimes counts over 10 % by chance: a cut of ~6 %, not a collapse."""
    estimator = column.new_estimator(1_000_000)
    run = simulate(lambda now: 50_000_000, 20_000, estimator=estimator, loss=0.05, seed=7)
    assert 0.02 < estimator.loss < 0.10
    assert min(bps for _, bps in run.estimates) >= 0.9 * 1_000_000
    assert run.estimates[-1][1] >= 1_000_000
    assert estimator.state != "overusing"


def test_20_percent_random_loss_cuts_by_half_the_loss(column: Column) -> None:
    estimator = column.new_estimator(1_000_000)
    run = simulate(lambda now: 50_000_000, 10_000, estimator=estimator, loss=0.2, seed=7)
    assert estimator.loss > 0.10
    assert run.estimates[-1][1] <= 0.5 * 1_000_000
    assert run.estimates[-1][1] >= FLOOR


def test_the_receivers_reference_time_may_wrap(column: Column) -> None:
    """The 24-bit reference time (64 ms units) wraps every 12.4 days of the receiver's clock."""
    wrap_us = (1 << 24) * 64_000
    runs = [
        simulate(
            _cap(2_500_000, 500_000, 3_000, 6_000),
            8_000,
            estimator=column.new_estimator(1_000_000),
            clock_offset_us=offset,
        )
        for offset in (0, wrap_us - 78 * 64_000)  # wraps ~5 s in, mid-cap
    ]
    assert runs[0].estimates == runs[1].estimates


@pytest.mark.parametrize(
    ("bps", "size", "expected"),
    [
        (1_000_000, 1_250, [0.0, 10.0, 20.0, 30.0, 40.0]),  # 15 ms hold 2 packets: 5 at least
        (8_000_000, 300, [i * 0.3 for i in range(50)]),  # 15 KB: 50 at most
        (4_000_000, 250, [i * 0.5 for i in range(30)]),  # 7.5 KB in 15 ms
    ],
)
def test_probe_plan_paces_packets_at_the_probe_rate(
    bps: int, size: int, expected: list[float]
) -> None:
    plan = probe_plan(Probe(1, bps, 15), size)
    assert plan == pytest.approx(expected)


def _feedback(base: int, count: int, arrivals: tuple[int | None, ...]) -> TransportFeedback:
    return TransportFeedback(1, 0, base, 10, count, arrivals)


def test_duplicate_out_of_order_and_unknown_feedback_is_dropped_and_counted(column: Column) -> None:
    log = column.log()
    estimator = column.estimator(log, 1_000_000)
    for ms in range(100):
        log.record(1_000, ms)
    first = estimator.on_feedback(_feedback(0, 5, tuple(range(0, 50_000, 1_000))), 100)
    assert (first.bps, first.acked_bps) == (estimator.bps, None)
    estimator.on_feedback(_feedback(0, 5, tuple(range(0, 50_000, 1_000))), 110)
    assert estimator.feedback_duplicate == 1
    estimator.on_feedback(_feedback(50, 4, (60_000,)), 120)
    assert estimator.feedback_out_of_order == 1
    estimator.on_feedback(_feedback(98, 6, (60_000, 61_000, 62_000)), 130)  # 100 never sent
    estimator.on_feedback(_feedback(40_000, 7, (60_000,)), 140)  # far ahead: never sent
    assert estimator.feedback_unknown == 2
    accepted = estimator.on_feedback(_feedback(50, 8, (60_000, None)), 150)
    assert accepted.bps == estimator.bps
    assert (estimator.feedback_duplicate, estimator.feedback_out_of_order) == (1, 1)
    assert estimator.feedback_unknown == 2


def test_seqs_the_log_no_longer_holds_are_skipped_and_counted(column: Column) -> None:
    log = column.log()
    estimator = column.estimator(log, 1_000_000)
    for seq in range(3 * LOG_SIZE):
        log.record(1_000, seq // 10)
    estimator.on_feedback(_feedback(0, 0, (1_000,)), 2_000)
    assert estimator.feedback_unknown == 1  # everything it reports is forgotten
    held = 2 * LOG_SIZE  # the oldest the log still holds
    estimator.on_feedback(_feedback(held - 2, 1, (1_000, 2_000, 3_000)), 2_000)
    assert estimator.packets_forgotten == 2  # the two before it
    assert log.sent(held) is not None and log.sent(held)[4] == RECEIVED


def _every_ms(log: SendLog, start_ms: int, count: int, gap_ms: int = 1, size: int = 1_000) -> int:
    """Log ``count`` packets of ``size`` bytes, one every ``gap_ms`` from ``start_ms``; the
    first one's extended seq."""
    first = log.next_seq
    for i in range(count):
        log.record(size, start_ms + i * gap_ms)
    return first


def test_a_downlink_already_carrying_more_than_the_start_bitrate_starts_the_estimate(
    column: Column,
) -> None:
    """A subscriber's streams flow before its first feedback (the SFU forwards what was asked
    for): 8 Mbit/s arriving on time is where the estimate starts, not at the 1 Mbit/s guess it
    would otherwise climb from at 8 % a second while the allocation cut layers by it."""
    log = column.log()
    estimator = column.estimator(log, 1_000_000)
    for n in range(8):
        base = _every_ms(log, 100 * n, 100)
        arrivals = tuple((100 * n + i + 20) * 1_000 for i in range(100))
        estimate = estimator.on_feedback(_feedback(base, n, arrivals), 100 * n + 120)
    assert estimate.acked_bps is not None and estimate.acked_bps >= 7_800_000
    assert estimate.bps >= estimate.acked_bps


def test_a_probe_sent_no_faster_than_the_estimate_proves_nothing(column: Column) -> None:
    """Padding squeezed between the frames of a busy stream may leave slower than the probe
    asked: that says nothing of the path, and the estimate stays."""
    log = column.log()
    estimator = column.estimator(log, 2_000_000)
    base = _every_ms(log, 0, 10, gap_ms=5)
    first = estimator.on_feedback(_feedback(base, 0, tuple(i * 5_000 for i in range(10))), 60)
    assert first.probe is not None and first.probe.bps == 4_000_000
    log.probe = first.probe.id
    base = _every_ms(log, 100, 10, gap_ms=16)  # 1,000 bytes every 16 ms: 500 kbit/s
    log.probe = 0
    estimator.on_probe_sent(first.probe, 10)
    arrivals = tuple(100_000 + i * 16_000 for i in range(10))
    after = estimator.on_feedback(_feedback(base, 1, arrivals), 300)
    assert after.bps >= 2_000_000


# -- the compiled estimator against its spec --------------------------------------------------


@dataclass(frozen=True)
class Sends:
    packets: int
    size: int
    gap_ms: int
    in_probe: bool  # logged with the pending probe's id, and told to the estimator


@dataclass(frozen=True)
class Report:
    back: int  # the first seq reported, behind the next one to be sent
    count: int
    count_step: int  # the feedback count's step: 0 repeats one, > 127 goes back
    reference: int  # 24-bit reference time, 64 ms units
    stretch: float  # > 1: arrivals spread out (a queue grows), < 1: they bunch up
    loss: float
    seed: int
    delay_ms: int  # how long after the newest send the feedback comes back


_estimator_ops = st.lists(
    st.one_of(
        st.builds(Sends, st.integers(1, 40), st.integers(60, 1_200), st.integers(0, 20),
                  st.booleans()),
        st.builds(Report, st.integers(0, 120), st.integers(1, 80),
                  st.one_of(st.just(1), st.integers(0, 255)),
                  st.one_of(st.just(10), st.integers(0, 0xFFFFFF)),
                  st.one_of(st.just(1.0), st.floats(0.5, 2.5)),
                  st.one_of(st.just(0.0), st.floats(0, 0.4)),
                  st.integers(0, 2**16), st.integers(0, 400)),
    ),
    max_size=60,
)  # fmt: skip


def _state(estimator: BandwidthEstimator) -> tuple[object, ...]:
    return (
        estimator.bps,
        estimator.delay_bps,
        estimator.loss_bps,
        estimator.acked_bps,
        estimator.state,
        estimator.loss,
        estimator.rtt_ms,
        estimator.feedback_duplicate,
        estimator.feedback_out_of_order,
        estimator.feedback_unknown,
        estimator.packets_forgotten,
    )


@settings(max_examples=300)
@given(_estimator_ops, st.integers(30_000, 5_000_000), st.integers(0, 2))
def test_the_compiled_estimator_takes_feedback_as_its_spec_does(
    ops: list[Sends | Report], initial_bps: int, limit: int
) -> None:
    """Random sends and feedback (late, lost, repeated, out of order, naming unsent or forgotten
    seqs, probes that finish or time out): the same estimates, probes and counters."""
    columns = [Column(kernels_of(implementation)) for implementation in IMPLEMENTATIONS]
    logs = [c.log() for c in columns]
    both = [c.estimator(log, initial_bps) for c, log in zip(columns, logs, strict=True)]
    for estimator in both:
        estimator.probe_limit_bps = (CEILING, 3_000_000, 200_000)[limit]
    now, count, probe = 0, 0, None
    for op in ops:
        if isinstance(op, Sends):
            for _ in range(op.packets):
                now += op.gap_ms
                for log in logs:
                    log.probe = probe.id if probe is not None and op.in_probe else 0
                    log.record(op.size, now)
            if probe is not None and op.in_probe:
                for estimator in both:
                    estimator.on_probe_sent(probe, op.packets)
            continue
        base = logs[1].next_seq - op.back
        rng = random.Random(op.seed)
        reported: list[int | None] = []
        for i in range(op.count):
            sent = logs[1].sent((base + i) & 0xFFFF)
            send_ms = sent[1] if sent is not None else 0
            lost = rng.random() < op.loss
            reported.append(None if lost else int(send_ms * 1_000 * op.stretch))
        count = (count + op.count_step) & 0xFF
        feedback = TransportFeedback(1, 0, base & 0xFFFF, op.reference, count, tuple(reported))
        now += op.delay_ms
        estimates = [estimator.on_feedback(feedback, now) for estimator in both]
        assert tuple(estimates[0]) == tuple(estimates[1])
        assert _state(both[0]) == _state(both[1])
        if estimates[1].probe is not None:
            probe = estimates[1].probe


@pytest.mark.parametrize(
    ("capacity_at", "loss", "feedback_ms"),
    [
        (_cap(2_500_000, 500_000, 5_000, 10_000), 0.0, 50),  # capacity learned, then released
        (_cap(4_000_000, 300_000, 2_000, 12_000), 0.03, 100),
        (lambda now: 50_000_000, 0.2, 50),  # the loss rule
    ],
)
def test_the_compiled_estimator_runs_a_path_as_its_spec_does(
    capacity_at: Callable[[int], int], loss: float, feedback_ms: int
) -> None:
    """Closed loop, so one differing estimate would change every send after it: near-capacity
    growth, decreases that learn the capacity, probes proving a lifted cap, the loss rule."""
    runs = [
        simulate(
            capacity_at,
            15_000,
            estimator=Column(kernels_of(implementation)).new_estimator(1_000_000),
            loss=loss,
            feedback_ms=feedback_ms,
        )
        for implementation in IMPLEMENTATIONS
    ]
    assert runs[0].estimates == runs[1].estimates
    assert runs[0].probes == runs[1].probes > 0
