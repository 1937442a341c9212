"""Sequence-number unwrapping and ordering across wraparound, both ways."""

import pytest

from sfu.rtp.seqnum import seq_lt16, unwrap16


@pytest.mark.parametrize(
    ("last_ext", "seq", "expected"),
    [
        (-1, 0, 0),  # first packet: the seq itself
        (-1, 65535, 65535),
        (100, 101, 101),
        (100, 100, 100),  # duplicate
        (100, 90, 90),  # reordered
        (65535, 0, 65536),  # forward across the wrap
        (65530, 4, 65540),
        (65536, 65535, 65535),  # backward across the wrap
        (3 * 65536 + 2, 65534, 3 * 65536 - 2),
        (5, 65530, -6),  # older than the first packet, before its wrap
        (0, 0x7FFF, 0x7FFF),  # largest step forward
        (0, 0x8000, -0x8000),  # exactly half-way counts as older
        (0x8001, 0, 0x10000),
        (10 * 65536 + 0x8002, 1, 11 * 65536 + 1),
    ],
)
def test_unwrap16(last_ext: int, seq: int, expected: int) -> None:
    assert unwrap16(last_ext, seq) == expected


def test_unwrap16_follows_a_long_stream() -> None:
    last = -1
    for i in range(0, 5 * 65536, 1000):
        last = max(last, unwrap16(last, i & 0xFFFF))
        assert last == i


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 2, True),
        (2, 1, False),
        (5, 5, False),
        (65535, 0, True),  # across the wrap
        (0, 65535, False),
        (0, 0x7FFF, True),
        (0, 0x8000, False),  # half-way: neither is before the other
        (0x8000, 0, False),
        (65000, 100, True),
    ],
)
def test_seq_lt16(a: int, b: int, expected: bool) -> None:
    assert seq_lt16(a, b) is expected
