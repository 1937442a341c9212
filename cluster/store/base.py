"""The `Store` seam: node registry, rooms and the room -> node map.

Two implementations keep the same contract (tests/cluster run one suite against both):
`MemoryStore` for the one-process run and `RedisStore` for several nodes. Times are passed in
(`now`, seconds since the epoch) so that liveness is decided by the caller's clock.

Errors: `NodeNotFound` for an unknown node id, `StoreUnavailable` when the backend fails,
`NotRoomOwner` when a node writes about a room assigned elsewhere (the fence that keeps two
nodes from hosting one room).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from cluster.commands import NodeCommand
from cluster.models import (
    Admission,
    NodeInfo,
    NodeLoad,
    NodeState,
    NodeStatus,
    ParticipantRecord,
    RoomInfo,
)


class Store(Protocol):
    async def register_node(self, info: NodeInfo) -> None:
        """Add or update a node; it stays not-alive until its first heartbeat."""

    async def heartbeat(self, node_id: str, load: NodeLoad, now: float) -> bool:
        """Record load and liveness. False if the store does not know the node (re-register)."""

    async def set_node_state(self, node_id: str, state: NodeState) -> None:
        """Mark a node active or draining (a draining node gets no new rooms)."""

    async def remove_node(self, node_id: str) -> None:
        """Forget a node; its rooms move on their next assignment. Unknown ids are ignored."""

    async def list_nodes(self) -> list[NodeStatus]:
        """Every node the store still knows, ordered by id."""

    async def create_room(self, room: RoomInfo) -> RoomInfo:
        """Create the room, or return the existing one unchanged (idempotent)."""

    async def get_room(self, name: str) -> RoomInfo | None: ...

    async def list_rooms(self) -> list[RoomInfo]:
        """Every room, ordered by name."""

    async def delete_room(self, name: str) -> bool:
        """Delete the room, its assignment, participants and identity generations; False if it
        did not exist."""

    async def assign_room(self, name: str, now: float, ttl: float) -> NodeStatus | None:
        """Atomically return the room's node: the current one if alive, else a newly selected
        one (persisted). Concurrent calls for one room agree. None if no node can take it."""

    async def room_node(self, name: str) -> str | None:
        """The id of the node the room is assigned to, alive or not."""

    async def room_assignments(self) -> dict[str, str]:
        """Every room name -> the id of the node it is assigned to."""

    async def room_owners(self, names: Sequence[str]) -> dict[str, str | None]:
        """Each room name -> the id of the node it is assigned to (None: no node)."""

    async def claim_rooms(self, node_id: str, names: Sequence[str]) -> list[str]:
        """Assign the rooms a node hosts to it where no node is assigned (after the store lost
        its state, e.g. Redis restarted); returns the names already assigned to another node."""

    async def identity_generation(self, room: str, identity: str) -> int:
        """The identity's generation in the room (0 until it is first removed); join tokens
        carry it."""

    async def revoke_identity(self, room: str, identity: str) -> int:
        """Raise the identity's generation, so that every token minted for it so far is refused;
        returns the new generation."""

    async def admission(self, room: str, identity: str) -> Admission:
        """What a node needs to admit a join, read at once: the room, its node, the identity's
        generation."""

    async def put_participant(self, room: str, record: ParticipantRecord) -> None:
        """Add or replace the participant `record.identity` of the room. Raises `NotRoomOwner`
        unless the room is assigned to `record.node_id`."""

    async def remove_participant(self, room: str, identity: str, node_id: str) -> None:
        """Remove the participant if `node_id` still hosts it (a node that lost a participant
        to another node must not remove the newer record)."""

    async def list_participants(self, room: str) -> list[ParticipantRecord]:
        """Every participant recorded for the room, live node or not, ordered by identity."""

    async def send_command(self, node_id: str, command: NodeCommand) -> int:
        """Publish a command to a node; returns how many listeners received it (0: none)."""

    def subscribe_commands(
        self, node_id: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[NodeCommand]]:
        """Subscribed on entry: commands sent to `node_id` from then on. Iterating raises
        `StoreUnavailable` if the channel breaks (the consumer subscribes again)."""

    async def ping(self) -> bool:
        """True if the backend answers (readiness)."""

    async def close(self) -> None: ...
