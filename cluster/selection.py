"""Node selection for a new room: a pure function, unit-tested without any store.

One strategy today (least loaded). Split into a package, one module per strategy, when a
second one (region-aware, CPU-based) arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cluster.models import NodeStatus, is_alive


def load_score(status: NodeStatus, pending: Mapping[str, int]) -> int:
    """Participants the node reported plus rooms given to it since (each expected to bring one)."""
    return status.load.participants + pending.get(status.info.id, 0)


def select_node(
    nodes: Sequence[NodeStatus],
    now: float,
    *,
    ttl: float,
    pending: Mapping[str, int],
) -> NodeStatus | None:
    """Pick the least-loaded alive, active node with spare capacity; ties go to the lowest id.

    `pending` counts rooms recently assigned to each node that its heartbeat may not show yet,
    so a burst of new rooms spreads over the nodes instead of piling onto the one that looked
    emptiest at the last heartbeat.
    """
    candidates = [
        node
        for node in nodes
        if node.info.state == "active"
        and is_alive(node, now, ttl)
        and load_score(node, pending) < node.info.capacity
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda node: (load_score(node, pending), node.info.id))
