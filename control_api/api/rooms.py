"""/v1/rooms: create, list, inspect and delete rooms; issue join tokens for a room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from control_api.deps import Authenticated, State, require_api_key
from control_api.domain.models import ROOM_NAME_PATTERN, is_alive
from control_api.errors import RoomNotFound
from control_api.joins import issue_join_token
from control_api.schemas import (
    NodeRef,
    RoomCreate,
    RoomDetail,
    RoomOut,
    TokenOut,
    TokenRequest,
)
from control_api.tokens import JoinGrants

router = APIRouter(prefix="/v1/rooms", tags=["rooms"], dependencies=[Depends(require_api_key)])

RoomPath = Annotated[str, Path(pattern=ROOM_NAME_PATTERN)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": RoomOut, "description": "The room already existed"}},
)
async def create_room(body: RoomCreate, state: State, response: Response) -> RoomOut:
    """Create a room; creating an existing room returns it unchanged with 200."""
    existing = await state.store.get_room(body.name)
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return RoomOut.of(existing)
    wanted = body.to_room(now=state.clock())
    room = await state.store.create_room(wanted)
    if room != wanted:  # created concurrently by someone else
        response.status_code = status.HTTP_200_OK
    return RoomOut.of(room)


@router.get("")
async def list_rooms(state: State) -> list[RoomOut]:
    return [RoomOut.of(room) for room in await state.store.list_rooms()]


@router.get("/{name}")
async def get_room(name: RoomPath, state: State) -> RoomDetail:
    room = await state.store.get_room(name)
    if room is None:
        raise RoomNotFound(name)
    node_id = await state.store.room_node(name)
    node = None
    if node_id is not None:
        now, ttl = state.clock(), state.settings.node_ttl_s
        for status_ in await state.store.list_nodes():
            if status_.info.id == node_id:
                node = NodeRef(id=node_id, url=status_.info.url, alive=is_alive(status_, now, ttl))
    return RoomDetail(**RoomOut.of(room).model_dump(), node=node)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_room(name: RoomPath, state: State) -> None:
    """Forget the room and its node assignment (participants already connected stay)."""
    if not await state.store.delete_room(name):
        raise RoomNotFound(name)


@router.post("/{name}/tokens")
async def create_token(
    name: RoomPath, body: TokenRequest, state: State, key: Authenticated
) -> TokenOut:
    """Sign a join token for the room (created with defaults if missing) and name its node."""
    now = state.clock()
    token = await issue_join_token(
        state.store,
        room=RoomCreate(name=name).to_room(now=now),
        key_id=key.id,
        secret=key.secret,
        identity=body.identity,
        name=body.name if body.name is not None else body.identity,
        grants=JoinGrants(publish=body.grants.publish, subscribe=body.grants.subscribe),
        ttl_s=body.ttl_s if body.ttl_s is not None else state.settings.token_ttl_s,
        now=now,
        node_ttl_s=state.settings.node_ttl_s,
    )
    state.metrics.join_tokens.labels(route="v1").inc()
    return token
