"""Who is connected, as the control plane can tell: records whose node is alive.

A node that dies leaves its participants' records behind (it cannot remove them); they stop
counting as soon as its heartbeat is stale, and are replaced when those people rejoin.
"""

from __future__ import annotations

from control_api.domain.models import ParticipantRecord, is_alive
from control_api.store.base import Store


async def live_participants(
    store: Store, room: str, *, now: float, ttl: float
) -> list[ParticipantRecord]:
    alive = {node.info.id for node in await store.list_nodes() if is_alive(node, now, ttl)}
    return [r for r in await store.list_participants(room) if r.node_id in alive]
