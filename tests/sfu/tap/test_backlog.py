"""A bot's backlog: bounded, oldest dropped first, stalled once nothing is read for long."""

from __future__ import annotations

from sfu.tap.backlog import Backlog


def test_beyond_its_size_the_oldest_frames_are_dropped_and_counted() -> None:
    backlog: Backlog[int] = Backlog(3, stall_ms=1000)
    assert [backlog.offer(i, now_ms=i) for i in range(5)] == [True, True, True, False, False]
    assert backlog.dropped == 2 and len(backlog) == 3
    assert [backlog.take(10), backlog.take(10), backlog.take(10), backlog.take(10)] == [
        2,
        3,
        4,
        None,
    ]


def test_stalled_when_frames_wait_unread_for_the_bound() -> None:
    backlog: Backlog[int] = Backlog(3, stall_ms=1000)
    assert not backlog.stalled(5000)  # nothing waits: an idle tap is not stalled
    backlog.offer(1, now_ms=0)
    assert not backlog.stalled(999)
    assert backlog.stalled(1000)
    backlog.take(1000)
    backlog.offer(2, now_ms=1500)
    assert not backlog.stalled(2499)  # it read everything at 1000: waiting since 1500
    assert backlog.stalled(2500)
