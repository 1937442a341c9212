"""The synthetic subscribers' transport-cc feedback: what a browser would report of the arrivals
its receive path recorded, read back by the node's own RTCP parser."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from load_tests import counting, counting_py
from load_tests.rtp import build_rtp, one_byte_extensions
from load_tests.transport_cc import MAX_SEQS, feedback
from sfu.rtp.rtcp import build_transport_feedback, parse_compound
from sfu.rtp.twcc import DELTA_UNIT_US, REFERENCE_UNIT_US, TransportFeedback

T0 = 3_600_000_000  # an hour of µs: arrivals as the monotonic clock gives them
WRAP_US = (1 << 24) * REFERENCE_UNIT_US  # where the 24-bit reference time wraps
TWCC = 5  # the transport-cc extension id


def build(arrivals: list[tuple[int, int]], base: int | None = None, count: int = 0) -> list[bytes]:
    feedbacks = feedback(arrivals, base, count, sender_ssrc=42, media_ssrc=7)
    return [build_transport_feedback(f) for f in feedbacks]


def parsed(packets: list[bytes]) -> list[TransportFeedback]:
    out = []
    for data in packets:
        [packet] = parse_compound(data)
        assert isinstance(packet, TransportFeedback)
        assert (packet.sender_ssrc, packet.media_ssrc) == (42, 7)
        out.append(packet)
    return out


def reported(packets: list[bytes]) -> list[tuple[int, int | None]]:
    """(seq, arrival µs modulo the reference wrap, or None) of every seq the packets cover."""
    return [
        (seq, None if at is None else (packet.reference_us + at) % WRAP_US)
        for packet in parsed(packets)
        for seq, at in packet.packets()
    ]


def assert_reports(packets: list[bytes], expected: Sequence[tuple[int, int | None]]) -> None:
    """Arrivals come back within the 250 µs the wire rounds them to."""
    got = reported(packets)
    assert [seq for seq, _ in got] == [seq for seq, _ in expected]
    for (_, at), (_, want) in zip(got, expected, strict=True):
        assert (at is None) == (want is None)
        if at is not None and want is not None:
            assert abs(at - want % WRAP_US) <= DELTA_UNIT_US // 2


def test_in_order_arrivals_are_one_feedback_from_the_lowest_seq() -> None:
    arrivals = [(seq, T0 + 1_130 * n) for n, seq in enumerate(range(10, 15))]
    packets = build(arrivals)
    [packet] = parsed(packets)
    assert (packet.base_seq, packet.feedback_count) == (10, 0)
    assert packet.reference_time == T0 // REFERENCE_UNIT_US
    assert_reports(packets, arrivals)


def test_a_missing_seq_is_reported_lost() -> None:
    arrivals = [(10, T0), (13, T0 + 3_000)]
    assert_reports(build(arrivals), [(10, T0), (11, None), (12, None), (13, T0 + 3_000)])


def test_reordered_arrivals_are_reported_by_seq_with_their_own_times() -> None:
    """12 overtook 11 (a negative receive delta), and 9 came after 10 yet is the lowest."""
    arrivals = [(10, T0), (12, T0 + 1_000), (11, T0 + 2_000), (9, T0 + 70_000)]
    expected = [(9, T0 + 70_000), (10, T0), (11, T0 + 2_000), (12, T0 + 1_000)]
    assert_reports(build(arrivals), expected)


def test_seqs_wrap_at_16_bits() -> None:
    arrivals = [(65534, T0), (0, T0 + 1_000), (65535, T0 + 2_000), (1, T0 + 3_000)]
    packets = build(arrivals)
    assert parsed(packets)[0].base_seq == 65534
    assert_reports(packets, [(65534, T0), (65535, T0 + 2_000), (0, T0 + 1_000), (1, T0 + 3_000)])
    assert_reports(build([(2, T0)], base=65535), [(65535, None), (0, None), (1, None), (2, T0)])


def test_packets_older_than_the_base_came_too_late() -> None:
    assert build([(4, T0), (65000, T0)], base=5) == []
    assert_reports(build([(4, T0), (6, T0 + 500)], base=5), [(5, None), (6, T0 + 500)])


def test_the_reference_time_wraps_at_24_bits() -> None:
    arrivals = [(1, WRAP_US - 1_000), (2, WRAP_US + 500), (3, WRAP_US + 70_000)]
    packets = build(arrivals)
    [packet] = parsed(packets)
    assert packet.reference_time == (1 << 24) - 1
    assert_reports(packets, arrivals)
    [after] = parsed(build([(4, WRAP_US + 64_100)]))
    assert after.reference_time == 1


def test_long_reports_and_long_silences_are_split() -> None:
    """More seqs than a packet covers, then a gap no receive delta can span (±8.19 s): each
    piece goes on from where the last ended, counted on (the 8-bit count wraps)."""
    arrivals = [(seq, T0 + 100 * seq) for seq in range(2 * MAX_SEQS + 10)]
    arrivals.append((2 * MAX_SEQS + 10, T0 + 9_000_000))
    packets = build(arrivals, count=254)
    pieces = parsed(packets)
    assert [(p.base_seq, len(p.arrivals)) for p in pieces] == [
        (0, MAX_SEQS),
        (MAX_SEQS, MAX_SEQS),
        (2 * MAX_SEQS, 10),
        (2 * MAX_SEQS + 10, 1),
    ]
    assert [p.feedback_count for p in pieces] == [254, 255, 0, 1]
    assert_reports(packets, arrivals)


@pytest.fixture(params=["python", "cython"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return {"python": counting_py, "cython": counting}[str(request.param)]


def _receiver(impl: ModuleType) -> Any:
    r = impl.Receiver(impl.DelayHistogram())
    r.transport_cc_id = TWCC
    return r


def _arrive(r: Any, seq: int, us: int) -> None:
    """A packet with transport seq ``seq`` received at ``us`` µs."""
    extensions = one_byte_extensions([(TWCC, (seq & 0xFFFF).to_bytes(2))])
    r.on_rtp(build_rtp(96, seq & 0xFFFF, 0, 7, True, extensions, bytes(20)), us * 1_000)


def test_each_feedback_goes_on_from_the_last(impl: ModuleType) -> None:
    """A connection's feedbacks: the first from the lowest seq, then each from the first seq
    not yet reported; nothing arrived, nothing sent."""
    r = _receiver(impl)
    for seq, us in [(100, T0), (101, T0 + 1_000)]:
        _arrive(r, seq, us)
    first = parsed(r.transport_feedback(42, 7))
    assert r.transport_feedback(42, 7) == []
    for seq, us in [(99, T0 + 2_000), (104, T0 + 3_000)]:
        _arrive(r, seq, us)
    second = parsed(r.transport_feedback(42, 7))
    assert [(p.base_seq, len(p.arrivals), p.feedback_count) for p in first + second] == [
        (100, 2, 0),
        (102, 3, 1),
    ]


# Arrivals as a receiver sees them: mostly in order, some reordered, lost, duplicated, late,
# and now and then a long silence (over the ±8.19 s a receive delta spans).
_steps = st.lists(
    st.tuples(
        st.integers(-3, 40),  # the next seq, after the last
        st.one_of(st.integers(0, 5_000), st.integers(-2_000, 0), st.just(9_000_000)),
        st.booleans(),  # feedback after it
    ),
    max_size=120,
)


@settings(max_examples=300)
@given(st.integers(0, 0xFFFF), st.integers(0, 2**44), _steps)
@example(65_530, T0, [(1, 100, False)] * 3 * MAX_SEQS + [(1, 0, True)])  # split, wrapped
def test_both_build_the_same_feedback(
    first_seq: int, start_us: int, steps: list[tuple[int, int, bool]]
) -> None:
    """The compiled builder and its spec, byte for byte, on the same arrivals."""
    receivers = _receiver(counting), _receiver(counting_py)
    seq, us = first_seq, start_us
    for step, gap_us, report in steps:
        seq, us = seq + step, max(0, us + gap_us)
        for r in receivers:
            _arrive(r, seq, us)
        if report:
            built = [r.transport_feedback(42, 7) for r in receivers]
            assert built[0] == built[1]
    assert receivers[0].transport_feedback(9, 1) == receivers[1].transport_feedback(9, 1)
