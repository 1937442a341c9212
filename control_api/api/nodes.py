"""/v1/nodes: the media nodes the store knows, with load and liveness."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from control_api.deps import State, require_api_key
from control_api.domain.models import is_alive
from control_api.schemas import NodeOut

router = APIRouter(prefix="/v1/nodes", tags=["nodes"], dependencies=[Depends(require_api_key)])


@router.get("")
async def list_nodes(state: State) -> list[NodeOut]:
    now, ttl = state.clock(), state.settings.node_ttl_s
    return [
        NodeOut.of(status, alive=is_alive(status, now, ttl))
        for status in await state.store.list_nodes()
    ]
