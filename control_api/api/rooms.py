"""/v1/rooms: rooms, their participants, and join tokens.

Changes to live calls (delete a room, remove or mute a participant) are written to the store
first, then sent to the room's node as commands, which disconnects or mutes the people there.
Grant and metadata changes are sent only: the node records the participant as changed.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError

from cluster.commands import NodeCommand
from cluster.errors import NodeUnreachable, ParticipantNotFound, RoomNotFound, TrackNotFound
from cluster.models import ROOM_NAME_PATTERN, ParticipantRecord, is_alive
from control_api.deps import Authenticated, State, require_api_key
from control_api.joins import issue_join_token
from control_api.roster import live_participants
from control_api.schemas import (
    IDENTITY_PATTERN,
    MAX_PAGE,
    TRACK_ID_PATTERN,
    GrantsIn,
    MuteRequest,
    NodeRef,
    ParticipantOut,
    ParticipantUpdate,
    RoomCreate,
    RoomDetail,
    RoomOut,
    RoomPage,
    TokenOut,
    TokenRequest,
)

router = APIRouter(prefix="/v1/rooms", tags=["rooms"], dependencies=[Depends(require_api_key)])

RoomPath = Annotated[str, Path(pattern=ROOM_NAME_PATTERN)]
IdentityPath = Annotated[str, Path(pattern=IDENTITY_PATTERN)]
TrackPath = Annotated[str, Path(pattern=TRACK_ID_PATTERN)]


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
async def list_rooms(
    state: State,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(pattern=ROOM_NAME_PATTERN)] = None,
) -> RoomPage:
    """Rooms by name, `limit` at a time; pass `next_cursor` as `cursor` for the next page."""
    rooms = [r for r in await state.store.list_rooms() if cursor is None or r.name > cursor]
    page = rooms[:limit]
    next_cursor = page[-1].name if len(rooms) > limit else None
    return RoomPage(rooms=[RoomOut.of(room) for room in page], next_cursor=next_cursor)


@router.get("/{name}")
async def get_room(name: RoomPath, state: State) -> RoomDetail:
    room = await state.store.get_room(name)
    if room is None:
        raise RoomNotFound(name)
    now, ttl = state.clock(), state.settings.node_ttl_s
    node_id = await state.store.room_node(name)
    nodes = await state.store.list_nodes()
    node = next(
        (
            NodeRef(id=n.info.id, url=n.info.url, alive=is_alive(n, now, ttl))
            for n in nodes
            if n.info.id == node_id
        ),
        None,
    )
    records = await state.store.list_participants(name)
    people = live_participants(records, nodes, now=now, ttl=ttl)
    return RoomDetail(**RoomOut.of(room).model_dump(), node=node, participants=len(people))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_room(name: RoomPath, state: State) -> None:
    """Forget the room and disconnect everyone in it."""
    node_id = await state.store.room_node(name)
    if not await state.store.delete_room(name):
        raise RoomNotFound(name)
    if node_id is not None:  # a node that misses it keeps no record of the room's people
        await state.store.send_command(node_id, NodeCommand(kind="delete_room", room=name))


@router.get("/{name}/participants")
async def list_participants(name: RoomPath, state: State) -> list[ParticipantOut]:
    """The participants connected now, by identity."""
    if await state.store.get_room(name) is None:
        raise RoomNotFound(name)
    return [ParticipantOut.of(record) for record in await _live(state, name)]


@router.delete("/{name}/participants/{identity}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_participant(name: RoomPath, identity: IdentityPath, state: State) -> None:
    """Disconnect a participant (its client is told it was removed and does not rejoin); the
    tokens minted for it so far are refused from now on (a new token lets it join again)."""
    record = await _participant(state, name, identity)
    await state.store.revoke_identity(name, identity)
    await _command(state, record, NodeCommand("remove_participant", room=name, identity=identity))
    await state.store.remove_participant(name, identity, record.node_id)


@router.post("/{name}/participants/{identity}/tracks/{track_id}/mute")
async def mute_track(
    name: RoomPath, identity: IdentityPath, track_id: TrackPath, body: MuteRequest, state: State
) -> ParticipantOut:
    """Mute or unmute a published track: the publisher's client is told to stop (or resume)
    sending it and everyone else sees it muted."""
    record = await _participant(state, name, identity)
    if all(track.id != track_id for track in record.tracks):
        raise TrackNotFound(identity, track_id)
    command = NodeCommand(
        "mute_track", room=name, identity=identity, track_id=track_id, muted=body.muted
    )
    await _command(state, record, command)
    out = ParticipantOut.of(record)
    for track in out.tracks:
        if track.id == track_id:
            track.muted = body.muted
    return out


@router.put("/{name}/participants/{identity}/grants")
async def update_grants(
    name: RoomPath, identity: IdentityPath, body: GrantsIn, state: State
) -> ParticipantOut:
    """Change what a participant in a live call may do, until it rejoins: the tracks it may
    no longer publish are stopped (its client is told, and everyone else stops receiving
    them), and it stops receiving without `subscribe`. `hidden` takes effect at its next
    join."""
    record = await _participant(state, name, identity)
    grants = body.to_grants()
    await _command(
        state, record, NodeCommand("update_grants", room=name, identity=identity, grants=grants)
    )
    return ParticipantOut.of(record)


@router.patch("/{name}/participants/{identity}")
async def update_participant(
    name: RoomPath, identity: IdentityPath, body: ParticipantUpdate, state: State
) -> ParticipantOut:
    """Change a participant's name, metadata or attributes in a live call: everyone in the
    room is told (participant_updated), until it rejoins with a token of its own."""
    record = await _participant(state, name, identity)
    update = body.to_update()
    await _command(
        state, record, NodeCommand("update_metadata", room=name, identity=identity, update=update)
    )
    given = {k: v for k, v in update.to_fields().items() if v is not None}
    return ParticipantOut.of(dataclasses.replace(record, **given))


@router.post("/{name}/tokens")
async def create_token(
    name: RoomPath, body: TokenRequest, state: State, key: Authenticated
) -> TokenOut:
    """Sign a join token for the room (created with defaults if missing) and name its node."""
    if body.ttl_s is not None and body.ttl_s > state.settings.token_max_ttl_s:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "ttl_s"),
                    "msg": f"at most SFU_TOKEN_MAX_TTL_S ({state.settings.token_max_ttl_s})",
                    "input": body.ttl_s,
                }
            ]
        )
    now = state.clock()
    token = await issue_join_token(
        state.store,
        room=RoomCreate(name=name).to_room(now=now),
        key_id=key.id,
        secret=key.secret,
        identity=body.identity,
        name=body.name if body.name is not None else body.identity,
        grants=body.grants.to_grants(),
        ttl_s=body.ttl_s if body.ttl_s is not None else state.settings.token_ttl_s,
        now=now,
        node_ttl_s=state.settings.node_ttl_s,
        metadata=body.metadata,
        attributes=body.attributes,
    )
    state.metrics.join_tokens.labels(route="v1").inc()
    return token


async def _participant(state: State, room: str, identity: str) -> ParticipantRecord:
    if await state.store.get_room(room) is None:
        raise RoomNotFound(room)
    for record in await _live(state, room):
        if record.identity == identity:
            return record
    raise ParticipantNotFound(room, identity)


async def _live(state: State, room: str) -> list[ParticipantRecord]:
    records = await state.store.list_participants(room)
    nodes = await state.store.list_nodes()
    return live_participants(records, nodes, now=state.clock(), ttl=state.settings.node_ttl_s)


async def _command(state: State, record: ParticipantRecord, command: NodeCommand) -> None:
    if await state.store.send_command(record.node_id, command) == 0:
        raise NodeUnreachable(f"node {record.node_id!r} does not listen for commands; try again")
