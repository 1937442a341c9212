"""The uplink NACK requester: what it asks for and when, on hand-written arrival sequences, and
that the packet path may leave in-order packets unreported (a hypothesis property)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.media.nack_requester import (
    MAX_AGE_PACKETS,
    MAX_MISSING,
    MAX_TRIES,
    MIN_RETRY_MS,
    NackRequester,
)
from sfu.rtp.rtcp import Nack, build_nack, nack_seqs, parse_compound
from sfu.rtp.seqnum import unwrap16


class Stream:
    """A received stream as the packet path sees it: each packet reported with the highest
    extended sequence number before it."""

    def __init__(self) -> None:
        self.requester = NackRequester()
        self.highest = -1

    def receive(self, now_ms: int, *seqs: int, keyframe: bool = False) -> bool:
        """Packets (extended sequence numbers) arriving at ``now_ms``, the last one starting a
        keyframe if ``keyframe``; whether the list overflowed."""
        overflowed = False
        for i, seq in enumerate(seqs):
            starts_keyframe = keyframe and i == len(seqs) - 1
            overflowed |= self.requester.on_packet(seq, starts_keyframe, now_ms, self.highest)
            self.highest = max(self.highest, seq)
        return overflowed


def _counts(requester: NackRequester) -> dict[str, int]:
    return {
        name: getattr(requester, name)
        for name in ("nacked", "recovered", "given_up", "superseded", "overflowed")
    }


def _tries(requester: NackRequester, rtt_ms: int | None, until_ms: int) -> list[int]:
    """When ``due`` asks for anything, following ``next_due_ms`` as a timer would."""
    asked_at = []
    while (now := requester.next_due_ms) is not None and now <= until_ms:
        if requester.due(now, rtt_ms):
            asked_at.append(now)
    return asked_at


def test_a_single_loss_is_nacked_as_soon_as_the_next_packet_shows_it() -> None:
    s = Stream()
    s.receive(1000, 100, 101, 102, 103, 104, 106)
    assert s.requester.next_due_ms == 1000
    assert s.requester.due(1000, None) == [105]
    assert s.requester.due(1000, None) == []
    assert s.requester.next_due_ms == 1100  # the default round trip, 100 ms
    assert _counts(s.requester)["nacked"] == 1


def test_a_burst_is_nacked_whole_and_in_order() -> None:
    s = Stream()
    s.receive(0, *range(1, 11), 21)
    assert s.requester.due(0, 40) == list(range(11, 21))
    assert s.requester.nacked == 10


def test_a_reordered_packet_leaves_the_list_unasked_and_counts_as_recovered() -> None:
    s = Stream()
    s.receive(0, 1, 2, 4)
    s.receive(3, 3)
    assert s.requester.due(3, None) == []
    assert s.requester.next_due_ms is None
    assert _counts(s.requester) == {
        "nacked": 0,
        "recovered": 1,
        "given_up": 0,
        "superseded": 0,
        "overflowed": 0,
    }


def test_a_repaired_packet_counts_as_recovered_and_is_not_asked_again() -> None:
    s = Stream()
    s.receive(0, 1, 3, 4)
    assert s.requester.due(0, 30) == [2]
    s.receive(31, 2)
    assert s.requester.next_due_ms is None
    assert s.requester.due(5000, 30) == []
    assert (s.requester.nacked, s.requester.recovered, s.requester.given_up) == (1, 1, 0)


@pytest.mark.parametrize(
    ("rtt_ms", "retry_ms"), [(None, 100), (50, 50), (250, 250), (1, MIN_RETRY_MS), (0, 20)]
)
def test_retries_are_paced_by_the_round_trip_with_a_floor(
    rtt_ms: int | None, retry_ms: int
) -> None:
    s = Stream()
    s.receive(0, 1, 3)
    assert s.requester.due(0, rtt_ms) == [2]
    assert s.requester.due(retry_ms - 1, rtt_ms) == []
    assert s.requester.next_due_ms == retry_ms
    assert s.requester.due(retry_ms, rtt_ms) == [2]
    assert s.requester.next_due_ms == 2 * retry_ms


@pytest.mark.parametrize("answered", [False, True])
def test_a_packet_is_given_up_one_round_trip_after_its_tenth_request(answered: bool) -> None:
    s = Stream()
    s.receive(0, 1, 3)
    assert _tries(s.requester, 30, 299) == [30 * i for i in range(MAX_TRIES)]
    if answered:  # the answer to the last request still counts
        s.receive(299, 2)
    assert s.requester.due(300, 30) == []
    assert s.requester.next_due_ms is None
    assert (s.requester.nacked, s.requester.recovered, s.requester.given_up) == (
        MAX_TRIES,
        int(answered),
        int(not answered),
    )


@pytest.mark.parametrize(("rtt_ms", "tries"), [(200, 5), (400, 3)])
def test_a_long_round_trip_gives_up_at_the_age_cap_before_ten_tries(
    rtt_ms: int, tries: int
) -> None:
    """The sender holds a packet for max(1 s, 3 RTT): 1 s at 200 ms, 1.2 s at 400 ms."""
    s = Stream()
    s.receive(0, 1, 3)
    assert _tries(s.requester, rtt_ms, 10_000) == [rtt_ms * i for i in range(tries)]
    assert (s.requester.nacked, s.requester.given_up) == (tries, 1)


def test_a_missing_packet_too_far_behind_the_newest_is_given_up() -> None:
    s = Stream()
    s.receive(0, 0, 2, *range(3, MAX_AGE_PACKETS + 2))  # 1 is missing, MAX_AGE_PACKETS behind
    s.receive(10, MAX_AGE_PACKETS + 3)  # a gap further on: 1 is now too old
    assert s.requester.due(10, None) == [MAX_AGE_PACKETS + 2]
    assert s.requester.given_up == 1


def test_a_keyframe_makes_the_packets_missing_before_it_useless() -> None:
    s = Stream()
    s.receive(0, 1, 3, 5)
    assert s.requester.due(0, None) == [2, 4]
    s.receive(10, 7, keyframe=True)  # 6 is lost too, and not asked for either
    assert s.requester.next_due_ms is None
    assert s.requester.due(200, None) == []
    assert (s.requester.superseded, s.requester.given_up) == (3, 0)
    s.receive(20, 8, 10)  # losses after the keyframe are repaired as usual
    assert s.requester.due(20, None) == [9]


def test_a_keyframe_start_arriving_late_supersedes_only_what_is_before_it() -> None:
    s = Stream()
    s.receive(0, 1, 3, 4, 6, 8)
    assert s.requester.due(0, None) == [2, 5, 7]
    s.receive(40, 5, keyframe=True)  # repaired: the start of a keyframe
    assert s.requester.due(100, None) == [7]
    assert (s.requester.recovered, s.requester.superseded) == (1, 1)


def test_overflow_clears_the_list_and_asks_for_a_keyframe() -> None:
    s = Stream()
    assert not s.receive(0, 0, 2)  # 1 is missing
    assert s.receive(10, MAX_MISSING + 3)  # 1 and 3..MAX_MISSING + 2: one too many
    assert s.requester.next_due_ms is None
    assert s.requester.due(10, None) == []
    assert s.requester.overflowed == MAX_MISSING + 1
    assert not s.receive(20, MAX_MISSING + 5)  # a new loss is a new list
    assert s.requester.due(20, None) == [MAX_MISSING + 4]


def test_a_full_list_that_does_not_overflow_is_asked_for_whole() -> None:
    s = Stream()
    assert not s.receive(0, 0, MAX_MISSING + 1)
    assert s.requester.due(0, None) == list(range(1, MAX_MISSING + 1))


def test_sequence_numbers_wrap_past_65535_through_extended_numbers() -> None:
    s = Stream()
    for seq in (65533, 65534, 1, 2):  # 65535 and 0 are lost
        s.receive(0, unwrap16(s.highest, seq))
    asked = s.requester.due(0, None)
    assert asked == [65535, 65536]
    (nack,) = parse_compound(build_nack(1, 2, [seq & 0xFFFF for seq in asked]))
    assert isinstance(nack, Nack)
    assert sorted(nack_seqs(nack.fci, 100)[0]) == [0, 65535]
    s.receive(30, unwrap16(s.highest, 0))  # the repair of 0 is 65536
    assert s.requester.due(100, None) == [65535]
    assert s.requester.recovered == 1


def test_duplicates_and_packets_from_before_the_first_change_nothing() -> None:
    s = Stream()
    s.receive(0, 5, 6, 6, 5, 3, 6)
    assert s.requester.next_due_ms is None
    assert set(_counts(s.requester).values()) == {0}


def test_in_order_packets_left_unreported_are_implied_by_the_highest_passed() -> None:
    requester = NackRequester()
    requester.on_packet(10, False, 0, -1)
    requester.on_packet(20, False, 5, 13)  # 11..13 arrived in order, unreported
    assert requester.due(5, None) == list(range(14, 20))
    late_start = NackRequester()
    late_start.on_packet(7, False, 0, 5)  # 0..5 arrived in order, none reported
    assert late_start.due(0, None) == [6]


# Properties ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    step: int  # its extended sequence number minus the highest before it
    keyframe: bool  # starts a keyframe
    after_ms: int


@dataclass(frozen=True)
class Due:
    rtt_ms: int | None
    after_ms: int


_steps = st.one_of(
    st.just(1),  # the next in order: half of all packets
    st.one_of(
        st.integers(-40, 0),  # late (reordered or repaired) or a duplicate
        *[st.integers(2, 30)] * 3,  # a gap
        st.integers(MAX_MISSING - 40, MAX_MISSING + 40),  # an overflow, or nearly
    ),
)
_events = st.lists(
    st.one_of(
        st.builds(Packet, _steps, st.integers(0, 9).map(lambda n: n == 0), st.integers(0, 30)),
        st.builds(Due, st.one_of(st.none(), st.integers(0, 500)), st.integers(0, 400)),
    ),
    min_size=30,
    max_size=200,
)


def _replay(base: int, events: list[Packet | Due], notable_only: bool) -> list[object]:
    """Everything the requester says, after each event and at the end; with ``notable_only``
    a packet is reported only as the compiled path will (not next in order, or a keyframe)."""
    requester = NackRequester()
    highest, now_ms = -1, 0
    said: list[object] = []
    for event in events:
        now_ms += event.after_ms
        if isinstance(event, Due):
            said.append(requester.due(now_ms, event.rtt_ms))
        else:
            seq = base if highest < 0 else highest + event.step
            reported = not notable_only or seq != highest + 1 or event.keyframe
            said.append(reported and requester.on_packet(seq, event.keyframe, now_ms, highest))
            highest = max(highest, seq)
        said.append(requester.next_due_ms)
    said.append(_counts(requester))
    return said


@given(st.integers(0, 70_000), _events)
def test_reporting_only_notable_packets_changes_nothing(
    base: int, events: list[Packet | Due]
) -> None:
    assert _replay(base, events, notable_only=True) == _replay(base, events, notable_only=False)


@given(st.integers(0, 70_000), _events)
def test_requests_are_for_missing_useful_packets_and_every_loss_is_accounted_for(
    base: int, events: list[Packet | Due]
) -> None:
    requester = NackRequester()
    highest, now_ms, lost, keyframe = -1, 0, 0, -(2**63)
    received: set[int] = set()
    asked: dict[int, list[int]] = {}
    for event in events:
        now_ms += event.after_ms
        if isinstance(event, Packet):
            seq = base if highest < 0 else highest + event.step
            requester.on_packet(seq, event.keyframe, now_ms, highest)
            if highest >= 0 and seq > highest:
                lost += seq - highest - 1
            highest = max(highest, seq)
            received.add(seq)
            if event.keyframe:
                keyframe = max(keyframe, seq)
            continue
        for seq in requester.due(now_ms, event.rtt_ms):
            assert seq not in received
            assert keyframe < seq < highest
            asked.setdefault(seq, []).append(now_ms)
    assert all(len(times) <= MAX_TRIES for times in asked.values())
    assert all(b - a >= MIN_RETRY_MS for times in asked.values() for a, b in pairwise(times))
    assert requester.nacked == sum(map(len, asked.values()))
    requester.due(now_ms + 10**9, None)  # everything still missing is now too old
    assert requester.next_due_ms is None
    ends = _counts(requester)
    del ends["nacked"]
    assert sum(ends.values()) == lost
