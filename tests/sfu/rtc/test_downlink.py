"""When the client is told its downlink estimate: the first one, then moves past 10 %, at most
every 250 ms."""

from __future__ import annotations

import pytest

from sfu.rtc.downlink import DOWNLINK_EVERY_MS, downlink_due


@pytest.mark.parametrize(
    ("last", "bps", "now_ms", "due"),
    [
        (None, 1_000_000, 0, True),
        ((1_000_000, 0), 1_050_000, DOWNLINK_EVERY_MS, False),  # a small move
        ((1_000_000, 0), 1_200_000, DOWNLINK_EVERY_MS - 1, False),  # too soon
        ((1_000_000, 0), 1_200_000, DOWNLINK_EVERY_MS, True),
        ((1_000_000, 0), 850_000, DOWNLINK_EVERY_MS, True),  # falls count the same
    ],
)
def test_downlink_due(last: tuple[int, int] | None, bps: int, now_ms: int, due: bool) -> None:
    assert downlink_due(last, bps, now_ms) is due
