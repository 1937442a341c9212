"""The node's once-a-second tick is spread over turns: no turn ticks everyone at once."""

from sfu.node import TICK_TURNS, tick_turn


def test_each_participant_keeps_one_turn_and_turns_fill_evenly() -> None:
    identities = [f"viewer-{i}" for i in range(70)] + ["alice", "bob", "bot"]
    turns = [tick_turn(identity) for identity in identities]
    assert turns == [tick_turn(identity) for identity in identities]  # its own, every second
    assert all(0 <= turn < TICK_TURNS for turn in turns)
    busiest = max(turns.count(turn) for turn in range(TICK_TURNS))
    assert busiest <= 15  # ~3.7 per turn on average; all 73 at once before
