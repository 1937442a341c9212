from __future__ import annotations

import pytest

from sfu.media.munger import Munger


def test_first_packet_starts_at_the_chosen_numbers() -> None:
    m = Munger(first_seq=100, first_ts=5000)
    assert m.translate(70_000, 123, now_ms=0) is None  # nothing before the first switch
    m.switch(70_000, 900_000, now_ms=0, clock_rate=90_000)
    assert m.translate(70_000, 900_000, now_ms=0) == (100, 5000)
    assert m.translate(70_001, 903_000, now_ms=33) == (101, 8000)


def test_switch_continues_without_gaps_and_with_elapsed_time() -> None:
    m = Munger(first_seq=10, first_ts=0)
    m.switch(500, 1000, now_ms=0, clock_rate=90_000)
    for i in range(5):
        m.translate(500 + i, 1000 + 3000 * i, now_ms=33 * i)
    # new layer: unrelated numbering, 100 ms after the last packet
    m.switch(9_000, 7_777_777, now_ms=33 * 4 + 100, clock_rate=90_000)
    seq, ts = m.translate(9_000, 7_777_777, now_ms=232) or (0, 0)
    assert seq == 15
    assert ts == 12_000 + 9_000


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        ([0, 1, 2, 3], [0, 1, 2, 3]),
        ([0, 2, 1, 3], [0, 2, 1, 3]),  # reordering keeps the publisher's order
        ([0, 1, 3], [0, 1, 3]),  # a real loss stays a gap
        ([0, -1, 1], [0, None, 1]),  # older than the start point: dropped
    ],
)
def test_translation_follows_input_order(arrivals: list[int], expected: list[int | None]) -> None:
    m = Munger(first_seq=0, first_ts=0)
    m.switch(1000, 0, now_ms=0, clock_rate=48_000)
    out = [m.translate(1000 + a, 960 * a, now_ms=0) for a in arrivals]
    assert [o[0] if o else None for o in out] == expected


def test_sequence_numbers_wrap_at_16_bits() -> None:
    m = Munger(first_seq=0xFFFE, first_ts=0xFFFFFF00)
    m.switch(0, 0, now_ms=0, clock_rate=90_000)
    assert [m.translate(i, i * 0x80, now_ms=0) for i in range(3)] == [
        (0xFFFE, 0xFFFFFF00),
        (0xFFFF, 0xFFFFFF80),
        (0, 0),
    ]
