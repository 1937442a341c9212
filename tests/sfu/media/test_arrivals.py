"""The per-packet half of the send-side estimator, compiled and as its twin: fed the same sends
and the same feedback (lost, late, repeated, reordered, forgotten, probes), both judge the same
packets, group them alike and reach the same detector state, acked rate and loss counts."""

from __future__ import annotations

import random
from dataclasses import dataclass

import cython_ext.arrivals as cy_arrivals
import cython_ext.sendlog as cy_sendlog
from hypothesis import given, settings
from hypothesis import strategies as st

import sfu.media.arrivals_py as py_arrivals
import sfu.webrtc.sendlog_py as py_sendlog
from sfu.media.arrivals_py import LOST, OVERUSING, RECEIVED, UNKNOWN
from tests.support.kernels import Kernels

LOG = 64  # small, so that feedback names packets the log has forgotten


@dataclass(frozen=True)
class Send:
    packets: int
    size: int
    gap_ms: int
    probe: int


@dataclass(frozen=True)
class Feedback:
    back: int  # the first seq reported, behind the next one to be sent
    count: int
    stretch: float  # how much slower than sent the packets arrive (> 1: a queue grows)
    loss: float
    seed: int
    reference_us: int


_ops = st.lists(
    st.one_of(
        st.builds(Send, st.integers(1, 30), st.integers(40, 1_200), st.integers(0, 12),
                  st.sampled_from([0, 0, 1, 2])),
        st.builds(Feedback, st.integers(0, 90), st.integers(1, 60),
                  st.floats(0.5, 2.0), st.floats(0, 0.5), st.integers(0, 2**16),
                  st.integers(-(2**40), 2**40)),
        st.integers(-1, 3),  # the probe being measured
    ),
    max_size=40,
)  # fmt: skip


def _arrivals(op: Feedback, base: int, log: py_sendlog.SendLog) -> tuple[int | None, ...]:
    """Arrival µs after the reference: send time stretched, jittered, some lost."""
    rng = random.Random(op.seed)
    out: list[int | None] = []
    for i in range(op.count):
        sent = log.sent((base + i) & 0xFFFF)
        send_ms = sent[1] if sent is not None else 0
        lost = rng.random() < op.loss
        out.append(None if lost else int(send_ms * 1000 * op.stretch) + rng.randrange(0, 3_000))
    return tuple(out)


def _observed(arrivals: object) -> tuple[object, ...]:
    a: py_arrivals.Arrivals = arrivals  # type: ignore[assignment]
    return a.state, a.lost, a.received, a.acked_bps, list(a.probe_got), a.probe


@settings(max_examples=300)
@given(_ops)
def test_both_take_feedback_alike(ops: list[Send | Feedback | int]) -> None:
    logs = cy_sendlog.SendLog(5, LOG), py_sendlog.SendLog(5, LOG)
    both = cy_arrivals.Arrivals(logs[0]), py_arrivals.Arrivals(logs[1])
    now = 0
    for op in ops:
        if isinstance(op, Send):
            for log in logs:
                log.probe = op.probe
            for _ in range(op.packets):
                now += op.gap_ms
                assert logs[0].record(op.size, now) == logs[1].record(op.size, now)
        elif isinstance(op, Feedback):
            base = logs[1].next_seq - op.back
            arrivals = _arrivals(op, base, logs[1])
            taken = [a.take(base, arrivals, op.reference_us) for a in both]
            assert taken[0] == taken[1]
        else:
            for a in both:
                a.probe, a.probe_got = op, []
        assert _observed(both[0]) == _observed(both[1])
    assert [logs[0].sent(s) for s in range(LOG)] == [logs[1].sent(s) for s in range(LOG)]


def _sent(log: object, packets: int, gap_ms: int, size: int = 1_000) -> None:
    for i in range(packets):
        log.record(size, i * gap_ms)  # type: ignore[attr-defined]


def test_each_packet_is_judged_once_and_a_late_one_is_not_lost(kernels: Kernels) -> None:
    log = kernels.sendlog.SendLog(5)
    arrivals = kernels.arrivals.Arrivals(log)
    _sent(log, 4, 10)
    assert arrivals.take(0, (0, None, None), 0) == (3, 0)
    assert (arrivals.lost, arrivals.received) == (2, 1)
    assert [log.sent(s)[4] for s in range(4)] == [RECEIVED, LOST, LOST, UNKNOWN]
    assert arrivals.take(1, (11_000, None, 31_000), 0) == (3, 30)  # 1 was late; 2 lost again
    assert (arrivals.lost, arrivals.received) == (1, 3)
    assert arrivals.take(0, (0,), 0) == (1, -1)  # reported twice: counted once
    assert arrivals.received == 3
    assert arrivals.take(100, (0,), 0) == (0, -1)  # never sent: nothing held, nothing changes
    assert (arrivals.lost, arrivals.received) == (1, 3)


def test_a_growing_queue_is_overuse_and_the_acked_rate_is_what_arrived(kernels: Kernels) -> None:
    """A packet every 5 ms arriving 7.5 ms apart: each group's delay grows by 2.5 ms."""
    log = kernels.sendlog.SendLog(5)
    arrivals = kernels.arrivals.Arrivals(log)
    _sent(log, 200, 5)
    for base in range(0, 200, 20):
        arrivals.take(base, tuple(7_500 * (base + i) for i in range(20)), 0)
    assert arrivals.state == OVERUSING
    # the last 500 ms of arrivals: 1,000 bytes every 7.5 ms
    assert arrivals.acked_bps is not None and abs(arrivals.acked_bps - 1_066_666) < 20_000


def test_arrival_times_that_stop_advancing_cannot_grow_the_acked_window(
    kernels: Kernels,
) -> None:
    """A receiver reporting every packet at the same instant keeps them all inside the 500 ms
    window: it holds ACKED_MAX of them, the newest, and counts only their bytes."""
    log = kernels.sendlog.SendLog(5)
    arrivals = kernels.arrivals.Arrivals(log)
    log.record(1_000, 0)
    arrivals.take(0, (0,), 0)  # the first arrival, at 0 ms
    packets = py_arrivals.ACKED_MAX + 4_000
    for start in range(1, packets + 1, 2_000):
        count = min(2_000, packets + 1 - start)
        for _ in range(count):
            log.record(1_000, 1)
        arrivals.take(start, (600_000,) * count, 0)  # all at 600 ms, for ever
    assert arrivals.received == packets + 1
    assert arrivals.acked_bps == py_arrivals.ACKED_MAX * 1_000 * 8_000 // 500
