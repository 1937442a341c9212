"""/v1/nodes: the media nodes the store knows, with load, liveness and rooms; draining."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from cluster.commands import NodeCommand
from cluster.errors import NodeNotFound
from cluster.models import NODE_ID_PATTERN, is_alive
from control_api.deps import State, require_api_key
from control_api.schemas import NodeOut

router = APIRouter(prefix="/v1/nodes", tags=["nodes"], dependencies=[Depends(require_api_key)])

NodePath = Annotated[str, Path(pattern=NODE_ID_PATTERN)]


@router.get("")
async def list_nodes(state: State) -> list[NodeOut]:
    return await _nodes(state)


@router.post("/{node_id}/drain", status_code=status.HTTP_202_ACCEPTED)
async def drain_node(node_id: NodePath, state: State) -> NodeOut:
    """The node gets no new rooms; its calls go on, and it exits once they have ended (or its
    drain deadline passes). Draining a draining node changes nothing."""
    await state.store.set_node_state(node_id, "draining")
    await state.store.send_command(node_id, NodeCommand(kind="drain"))
    for node in await _nodes(state):
        if node.id == node_id:
            return node
    raise NodeNotFound(node_id)


async def _nodes(state: State) -> list[NodeOut]:
    now, ttl = state.clock(), state.settings.node_ttl_s
    rooms: dict[str, list[str]] = {}
    for room, node_id in sorted((await state.store.room_assignments()).items()):
        rooms.setdefault(node_id, []).append(room)
    return [
        NodeOut.of(node, alive=is_alive(node, now, ttl), rooms=rooms.get(node.info.id, []))
        for node in await state.store.list_nodes()
    ]
