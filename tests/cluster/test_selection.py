"""`select_node` and `is_alive`: pure, table-driven, no store."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.models import (
    NodeInfo,
    NodeLoad,
    NodeState,
    NodeStatus,
    is_alive,
    is_valid_room_name,
)
from cluster.selection import select_node

NOW = 1_000.0
TTL = 6.0


def status(
    node_id: str,
    *,
    participants: int = 0,
    capacity: int = 10,
    state: NodeState = "active",
    age: float | None = 1.0,
) -> NodeStatus:
    """A node whose last heartbeat was `age` seconds before NOW (None: never)."""
    return NodeStatus(
        info=NodeInfo(id=node_id, url=f"ws://{node_id}/ws", capacity=capacity, state=state),
        load=NodeLoad(participants=participants),
        heartbeat_at=None if age is None else NOW - age,
    )


@dataclass(frozen=True)
class Case:
    name: str
    nodes: list[NodeStatus]
    expected: str | None
    pending: dict[str, int] = field(default_factory=dict)


CASES = [
    Case("no nodes", [], None),
    Case("single live node", [status("a")], "a"),
    Case("least participants", [status("a", participants=5), status("b", participants=2)], "b"),
    Case("tie goes to lowest id", [status("b"), status("a"), status("c")], "a"),
    Case("never heartbeated is dead", [status("a", age=None), status("b", participants=9)], "b"),
    Case("stale heartbeat is dead", [status("a", age=TTL), status("b", participants=9)], "b"),
    Case("just fresh enough is alive", [status("a", age=TTL - 0.001)], "a"),
    Case("future heartbeat (clock skew) is alive", [status("a", age=-3.0)], "a"),
    Case("draining is skipped", [status("a", state="draining"), status("b", participants=9)], "b"),
    Case("full node is skipped", [status("a", participants=10), status("b", participants=9)], "b"),
    Case("all full", [status("a", participants=10, capacity=10)], None),
    Case("all dead or draining", [status("a", age=60.0), status("b", state="draining")], None),
    Case(
        "pending rooms count as load",
        [status("a", participants=1), status("b", participants=2)],
        "b",
        pending={"a": 2},
    ),
    Case(
        "pending rooms fill a node",
        [status("a", capacity=2), status("b", participants=5)],
        "b",
        pending={"a": 2},
    ),
    Case("pending for unknown nodes is ignored", [status("a")], "a", pending={"zz": 99}),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_select_node(case: Case) -> None:
    chosen = select_node(case.nodes, NOW, ttl=TTL, pending=case.pending)
    assert (chosen.info.id if chosen is not None else None) == case.expected


node_statuses = st.builds(
    status,
    st.text(alphabet="abcdef", min_size=1, max_size=3),
    participants=st.integers(0, 20),
    capacity=st.integers(1, 20),
    state=st.sampled_from(["active", "draining"]),
    age=st.none() | st.floats(-10, 20),
)


@given(
    nodes=st.lists(node_statuses, max_size=8),
    pending=st.dictionaries(st.text("abcdef", max_size=3), st.integers(0, 5)),
)
def test_selection_is_an_eligible_minimum_and_order_independent(
    nodes: list[NodeStatus], pending: dict[str, int]
) -> None:
    chosen = select_node(nodes, NOW, ttl=TTL, pending=pending)
    score = {id(n): n.load.participants + pending.get(n.info.id, 0) for n in nodes}
    eligible = [
        n
        for n in nodes
        if n.info.state == "active" and is_alive(n, NOW, TTL) and score[id(n)] < n.info.capacity
    ]
    if not eligible:
        assert chosen is None
        return
    assert chosen is not None and chosen in eligible
    best = min((score[id(n)], n.info.id) for n in eligible)
    assert (score[id(chosen)], chosen.info.id) == best
    again = select_node(list(reversed(nodes)), NOW, ttl=TTL, pending=pending)
    assert again is not None and (again.info.id, score[id(again)]) == (chosen.info.id, best[0])


@pytest.mark.parametrize(
    ("heartbeat_at", "alive"),
    [(None, False), (NOW, True), (NOW - TTL + 0.5, True), (NOW - TTL, False), (NOW + 1, True)],
)
def test_is_alive(heartbeat_at: float | None, alive: bool) -> None:
    node = NodeStatus(info=NodeInfo(id="a", url="ws://a", capacity=1), heartbeat_at=heartbeat_at)
    assert is_alive(node, NOW, TTL) is alive


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("standup", True),
        ("a-b_C9", True),
        ("x" * 64, True),
        ("", False),
        ("x" * 65, False),
        ("a b", False),
        ("a/b", False),
        ("é", False),
        ("a:b", False),
    ],
)
def test_room_names(name: str, valid: bool) -> None:
    assert is_valid_room_name(name) is valid


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "a:b"}, "node id"),
        ({"id": ""}, "node id"),
        ({"id": "a b"}, "node id"),
        ({"capacity": -1}, "capacity"),
        ({"state": "gone"}, "state"),
    ],
)
def test_node_info_rejects_what_cannot_be_stored(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"id": "node-1.example", "url": "ws://n", "capacity": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        NodeInfo(**fields)  # type: ignore[arg-type]
