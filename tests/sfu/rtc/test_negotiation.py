"""The subscribe side's negotiation queue, with time passed in."""

from __future__ import annotations

from sfu.rtc.negotiation import Negotiation


def test_one_offer_in_flight_and_changes_meanwhile_fold_into_the_next() -> None:
    queue = Negotiation(timeout_s=15)
    assert queue.start() and queue.in_flight
    queue.offered(1_000)
    assert not queue.start() and not queue.start()  # two changes, one more offer
    assert queue.answered() and not queue.in_flight
    assert queue.start()
    queue.offered(2_000)
    assert not queue.answered()  # nothing changed meanwhile


def test_an_unanswered_offer_expires_at_its_deadline_and_only_then() -> None:
    queue = Negotiation(timeout_s=15)
    assert not queue.expired(10**9)  # no offer out
    queue.start()
    queue.offered(1_000)
    assert not queue.expired(15_999)
    assert queue.expired(16_000)
    queue.answered()
    assert not queue.expired(10**9)
