"""The data message budget: token buckets of messages and payload bytes, the reserve lossy
messages leave to reliable ones, and coalesced refusal reports. Time is passed in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.signaling.data_budget import DataBudget, DataLimits, RefusalReports
from sfu.signaling.messages import MAX_FRAME_BYTES

LIMITS = DataLimits()  # 20/s burst 50; 64 KiB/s burst 256 KiB; lossy leave 20 %


def sent(
    budget: DataBudget, count: int, *, now_ms: int, size: int = 10, reliable: bool = True
) -> int:
    return sum(budget.take(size, reliable=reliable, now_ms=now_ms) for _ in range(count))


def test_a_burst_then_the_rate() -> None:
    budget = DataBudget(LIMITS, now_ms=0)
    assert sent(budget, 80, now_ms=0) == 50
    assert sent(budget, 80, now_ms=1000) == 20  # a second refills 20
    assert sent(budget, 80, now_ms=1049) == 0
    assert sent(budget, 80, now_ms=1050) == 1


def test_bytes_are_budgeted_too() -> None:
    budget = DataBudget(LIMITS, now_ms=0)
    assert sent(budget, 10, now_ms=0, size=MAX_FRAME_BYTES) == 4  # 256 KiB
    assert sent(budget, 10, now_ms=999, size=MAX_FRAME_BYTES) == 0
    assert sent(budget, 10, now_ms=1000, size=MAX_FRAME_BYTES) == 1  # 64 KiB a second
    assert sent(budget, 10, now_ms=1000, size=0) == 10  # messages left, bytes not needed


def test_lossy_messages_leave_a_reserve_to_reliable_ones() -> None:
    budget = DataBudget(LIMITS, now_ms=0)
    assert sent(budget, 80, now_ms=0, reliable=False) == 40  # 20 % of 50 kept
    assert sent(budget, 80, now_ms=0, reliable=True) == 10
    bytes_budget = DataBudget(LIMITS, now_ms=0)
    assert sent(bytes_budget, 9, now_ms=0, size=32 * 1024, reliable=False) == 6  # 80 % of 8
    assert sent(bytes_budget, 9, now_ms=0, size=32 * 1024, reliable=True) == 2


def test_a_clock_going_backwards_refills_nothing() -> None:
    budget = DataBudget(LIMITS, now_ms=10_000)
    assert sent(budget, 60, now_ms=10_000) == 50
    assert sent(budget, 60, now_ms=0) == 0
    assert sent(budget, 60, now_ms=10_050) == 1


@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3000),  # ms since the previous message
            st.integers(min_value=0, max_value=MAX_FRAME_BYTES),
            st.booleans(),
        ),
        max_size=300,
    )
)
def test_never_more_than_burst_plus_rate(steps: list[tuple[int, int, bool]]) -> None:
    """In any window, what passes is at most a burst plus the rate times the window."""
    budget = DataBudget(LIMITS, now_ms=0)
    now, passed = 0, []
    for gap, size, reliable in steps:
        now += gap
        if budget.take(size, reliable=reliable, now_ms=now):
            passed.append((now, size))
    for i, (start, _) in enumerate(passed):
        for j in range(i, len(passed)):
            window_s = (passed[j][0] - start) / 1000
            count = j - i + 1
            size = sum(s for _, s in passed[i : j + 1])
            assert count <= LIMITS.message_burst + LIMITS.messages_per_s * window_s + 1e-9
            assert size <= LIMITS.byte_burst + LIMITS.bytes_per_s * window_s + 1e-6


@given(lossy=st.lists(st.integers(min_value=0, max_value=1000), max_size=200))
def test_a_flood_of_lossy_messages_never_stops_a_reliable_one(lossy: list[int]) -> None:
    budget = DataBudget(LIMITS, now_ms=0)
    for size in lossy:
        budget.take(size, reliable=False, now_ms=0)
    assert budget.take(MAX_FRAME_BYTES, reliable=True, now_ms=0)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"messages_per_s": 0}, "data rates must be positive"),
        ({"bytes_per_s": -1}, "data rates must be positive"),
        ({"lossy_reserve": 1}, "lossy_reserve must be in [0, 1)"),
        ({"message_burst": 1}, "message_burst leaves lossy messages no room"),
        ({"byte_burst": MAX_FRAME_BYTES}, "byte_burst must let a lossy 65536-byte payload"),
    ],
)
def test_limits_that_cannot_work_are_refused(change: dict[str, float], why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("[", r"\[").replace(")", r"\)")):
        DataLimits(**change)  # type: ignore[arg-type]


def test_refusals_are_reported_once_per_interval_with_their_count() -> None:
    reports = RefusalReports(interval_ms=1000)
    assert reports.refused(0) == 1  # the first at once
    assert [reports.refused(t) for t in (1, 500, 999)] == [None, None, None]
    assert reports.refused(1000) == 4  # the three held back and this one
    assert reports.refused(1500) is None
    assert reports.refused(5000) == 2


@given(times=st.lists(st.integers(min_value=0, max_value=10_000), max_size=200))
def test_reports_count_every_refusal_and_come_at_most_once_a_second(times: list[int]) -> None:
    """Every refusal is in a report but those after the last one (they wait for the next)."""
    reports = RefusalReports(interval_ms=1000)
    reported: list[tuple[int, int, int]] = []  # (index, time, count)
    for i, now in enumerate(sorted(times)):
        count = reports.refused(now)
        if count is not None:
            reported.append((i, now, count))
    assert all(b[1] - a[1] >= 1000 for a, b in itertools.pairwise(reported))
    last = reported[-1][0] if reported else -1
    assert sum(count for _, _, count in reported) == last + 1
