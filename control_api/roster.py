"""Who is connected, as the control plane can tell: records whose node is alive.

A node that dies leaves its participants' records behind (it cannot remove them); they stop
counting as soon as its heartbeat is stale, and are replaced when those people rejoin.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.models import NodeStatus, ParticipantRecord, is_alive


def live_participants(
    records: Sequence[ParticipantRecord], nodes: Sequence[NodeStatus], *, now: float, ttl: float
) -> list[ParticipantRecord]:
    alive = {node.info.id for node in nodes if is_alive(node, now, ttl)}
    return [record for record in records if record.node_id in alive]
