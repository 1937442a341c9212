"""In-process `Store`: the single-node run and the reference the Redis store is tested against."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence

from cluster.commands import NodeCommand
from cluster.errors import NodeNotFound, NotRoomOwner
from cluster.models import (
    Admission,
    NodeInfo,
    NodeLoad,
    NodeState,
    NodeStatus,
    ParticipantRecord,
    RoomInfo,
    is_alive,
)
from cluster.selection import select_node


class MemoryStore:
    def __init__(self) -> None:
        self._nodes: dict[str, NodeStatus] = {}
        self._rooms: dict[str, RoomInfo] = {}
        self._room_node: dict[str, str] = {}
        # node id -> room name -> when it was assigned there (see `_pending`)
        self._recent: dict[str, dict[str, float]] = {}
        self._assign_lock = asyncio.Lock()
        self._participants: dict[str, dict[str, ParticipantRecord]] = {}
        self._generations: dict[str, dict[str, int]] = {}
        self._listeners: dict[str, set[asyncio.Queue[NodeCommand]]] = {}

    async def register_node(self, info: NodeInfo) -> None:
        current = self._nodes.get(info.id)
        self._nodes[info.id] = (
            NodeStatus(info=info) if current is None else dataclasses.replace(current, info=info)
        )

    async def heartbeat(self, node_id: str, load: NodeLoad, now: float) -> bool:
        current = self._nodes.get(node_id)
        if current is None:
            return False
        self._nodes[node_id] = dataclasses.replace(current, load=load, heartbeat_at=now)
        return True

    async def set_node_state(self, node_id: str, state: NodeState) -> None:
        current = self._nodes.get(node_id)
        if current is None:
            raise NodeNotFound(node_id)
        info = dataclasses.replace(current.info, state=state)
        self._nodes[node_id] = dataclasses.replace(current, info=info)

    async def remove_node(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)
        self._recent.pop(node_id, None)

    async def list_nodes(self) -> list[NodeStatus]:
        return [self._nodes[node_id] for node_id in sorted(self._nodes)]

    async def create_room(self, room: RoomInfo) -> RoomInfo:
        return self._rooms.setdefault(room.name, room)

    async def get_room(self, name: str) -> RoomInfo | None:
        return self._rooms.get(name)

    async def list_rooms(self) -> list[RoomInfo]:
        return [self._rooms[name] for name in sorted(self._rooms)]

    async def delete_room(self, name: str) -> bool:
        self._room_node.pop(name, None)
        self._participants.pop(name, None)
        self._generations.pop(name, None)
        return self._rooms.pop(name, None) is not None

    async def assign_room(self, name: str, now: float, ttl: float) -> NodeStatus | None:
        async with self._assign_lock:
            current = self._nodes.get(self._room_node.get(name, ""))
            if current is not None and is_alive(current, now, ttl):
                return current
            nodes = list(self._nodes.values())
            chosen = select_node(nodes, now, ttl=ttl, pending=self._pending(now, ttl))
            if chosen is None:
                return None
            self._room_node[name] = chosen.info.id
            self._recent.setdefault(chosen.info.id, {})[name] = now
            return chosen

    async def room_node(self, name: str) -> str | None:
        return self._room_node.get(name)

    async def room_assignments(self) -> dict[str, str]:
        return dict(self._room_node)

    async def room_owners(self, names: Sequence[str]) -> dict[str, str | None]:
        return {name: self._room_node.get(name) for name in names}

    async def claim_rooms(self, node_id: str, names: Sequence[str]) -> list[str]:
        for name in names:
            self._room_node.setdefault(name, node_id)
        return [name for name in names if self._room_node[name] != node_id]

    async def identity_generation(self, room: str, identity: str) -> int:
        return self._generations.get(room, {}).get(identity, 0)

    async def revoke_identity(self, room: str, identity: str) -> int:
        generations = self._generations.setdefault(room, {})
        generations[identity] = generations.get(identity, 0) + 1
        return generations[identity]

    async def admission(self, room: str, identity: str) -> Admission:
        return Admission(
            room=self._rooms.get(room),
            node_id=self._room_node.get(room),
            generation=await self.identity_generation(room, identity),
        )

    async def put_participant(self, room: str, record: ParticipantRecord) -> None:
        if self._room_node.get(room) != record.node_id:
            raise NotRoomOwner(room, record.node_id)
        self._participants.setdefault(room, {})[record.identity] = record

    async def remove_participant(self, room: str, identity: str, node_id: str) -> None:
        records = self._participants.get(room, {})
        if identity in records and records[identity].node_id == node_id:
            del records[identity]
            if not records:
                del self._participants[room]

    async def list_participants(self, room: str) -> list[ParticipantRecord]:
        records = self._participants.get(room, {})
        return [records[identity] for identity in sorted(records)]

    async def send_command(self, node_id: str, command: NodeCommand) -> int:
        listeners = self._listeners.get(node_id, set())
        for queue in listeners:
            queue.put_nowait(command)
        return len(listeners)

    @contextlib.asynccontextmanager
    async def subscribe_commands(self, node_id: str) -> AsyncIterator[AsyncIterator[NodeCommand]]:
        queue: asyncio.Queue[NodeCommand] = asyncio.Queue()
        self._listeners.setdefault(node_id, set()).add(queue)

        async def received() -> AsyncIterator[NodeCommand]:
            while True:
                yield await queue.get()

        try:
            yield received()
        finally:
            self._listeners[node_id].discard(queue)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    def _pending(self, now: float, ttl: float) -> dict[str, int]:
        """Rooms assigned within the last `ttl` seconds, per node (dropping older entries)."""
        counts: dict[str, int] = {}
        for node_id, rooms in self._recent.items():
            for room, at in list(rooms.items()):
                if now - at >= ttl:
                    del rooms[room]
            counts[node_id] = len(rooms)
        return counts
