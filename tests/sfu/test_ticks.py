"""The node's once-a-second tick is spread over turns: no turn ticks everyone at once."""

from sfu.node import TICK_TURNS, tick_turn, turns_to_next


def test_each_participant_keeps_one_turn_and_turns_fill_evenly() -> None:
    identities = [f"viewer-{i}" for i in range(70)] + ["alice", "bob", "bot"]
    turns = [tick_turn(identity) for identity in identities]
    assert turns == [tick_turn(identity) for identity in identities]  # its own, every second
    assert all(0 <= turn < TICK_TURNS for turn in turns)
    busiest = max(turns.count(turn) for turn in range(TICK_TURNS))
    assert busiest <= 15  # ~3.7 per turn on average; all 73 at once before


def test_the_loop_wakes_for_turns_someone_ticks_in_and_once_a_second() -> None:
    assert turns_to_next(0, set()) == TICK_TURNS  # nobody: once a second, at turn 0
    assert turns_to_next(3, set()) == TICK_TURNS - 3
    assert turns_to_next(3, {5, 9}) == 2
    assert turns_to_next(5, {5, 9}) == 4
    assert turns_to_next(9, {5, 9}) == TICK_TURNS - 9  # turn 0 comes before turn 5 again
    assert turns_to_next(9, {0, 5}) == TICK_TURNS - 9
    assert turns_to_next(TICK_TURNS - 1, set(range(TICK_TURNS))) == 1
    assert all(turns_to_next(t, set(range(TICK_TURNS))) == 1 for t in range(TICK_TURNS))
