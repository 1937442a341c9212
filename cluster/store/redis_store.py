"""Redis `Store`: the node registry and room map shared by every control-plane replica and node.

A node's liveness is its hash key with a TTL that each heartbeat refreshes, so a crashed node
disappears by itself; the heartbeat time inside it is compared with the caller's `now` as well,
so liveness follows the same rule (`is_alive`) as the in-memory store.

Room assignment is a compare-and-set in Lua: Python reads the nodes, picks one with the pure
`select_node`, and the script writes it only if the room's assignment is still the one Python
saw and is not alive (otherwise it returns the winner). Concurrent joins of a new room therefore
all get the first writer's node. Scripts build node keys from the prefix, so this targets a
standalone (or Sentinel) Redis, not Redis Cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cluster.commands import BadCommand, NodeCommand
from cluster.errors import NodeNotFound, NotRoomOwner, StoreUnavailable
from cluster.models import (
    DEFAULT_NODE_TTL_S,
    NODE_STATES,
    Admission,
    NodeInfo,
    NodeLoad,
    NodeState,
    NodeStatus,
    ParticipantRecord,
    RoomInfo,
    TrackRecord,
    is_alive,
)
from cluster.selection import select_node

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "sfu:"
# A node that stopped beating is listed (not alive) for this many liveness TTLs, then forgotten.
FORGET_AFTER_TTLS = 10
# Key names below are relative to the prefix.

# set: ids of registered nodes; members whose NODE_KEY expired are dropped by list_nodes
NODES_KEY = "nodes"
# hash: url, capacity, state, participants, tracks, packets_per_s, cpu,
#       heartbeat_at ("" until the first heartbeat); expires forget_after_s after the last
#       beat, so a dead node is listed as not alive for a while before it disappears
NODE_KEY = "node:{node_id}"
# sorted set: room name -> time it was assigned to this node (rooms the load may not show yet)
NODE_RECENT_KEY = "node:{node_id}:recent"
# hash: room name -> RoomInfo as JSON
ROOMS_KEY = "rooms"
# hash: room name -> node id
ROOM_NODE_KEY = "room_node"
# hash: identity -> ParticipantRecord as JSON (written by the node hosting the room)
ROOM_PARTICIPANTS_KEY = "room:{room}:participants"
# hash: identity -> its generation in the room (absent: 0), raised when it is removed
ROOM_GENERATIONS_KEY = "room:{room}:generations"
# pub/sub channel: NodeCommand as JSON, for the node to act on
NODE_COMMANDS_CHANNEL = "node:{node_id}:commands"

# Lua alive(): same rule as domain.models.is_alive, on the node hash.
_LUA_ALIVE = """
local function node_key(id) return ARGV[1] .. 'node:' .. id end
local function alive(id, now, ttl)
  local hb = redis.call('HGET', node_key(id), 'heartbeat_at')
  return hb and hb ~= '' and (now - tonumber(hb)) < ttl
end
"""

# KEYS: node key. ARGV: prefix, ttl_ms, participants, tracks, packets_per_s, cpu, now.
_HEARTBEAT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'participants', ARGV[3], 'tracks', ARGV[4],
           'packets_per_s', ARGV[5], 'cpu', ARGV[6], 'heartbeat_at', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: node key. ARGV: prefix, state.
_SET_STATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return 1
"""

# KEYS: room_node hash. ARGV: prefix, room, expected current node id ('' = none),
# chosen node id, now, ttl_s.
# Returns {1, id, node hash...} reused, {2, id, node hash...} written, {0} retry.
_ASSIGN_LUA = (
    _LUA_ALIVE
    + """
local room, expected, chosen = ARGV[2], ARGV[3], ARGV[4]
local now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local current = redis.call('HGET', KEYS[1], room)
if current and alive(current, now, ttl) then
  return {1, current, redis.call('HGETALL', node_key(current))}
end
if (current or '') ~= expected then return {0} end
if not alive(chosen, now, ttl) or redis.call('HGET', node_key(chosen), 'state') ~= 'active' then
  return {0}
end
redis.call('HSET', KEYS[1], room, chosen)
local recent = node_key(chosen) .. ':recent'
redis.call('ZADD', recent, now, room)
redis.call('ZREMRANGEBYSCORE', recent, '-inf', '(' .. (now - ttl))
redis.call('PEXPIRE', recent, math.ceil(ttl * 1000))
return {2, chosen, redis.call('HGETALL', node_key(chosen))}
"""
)

# KEYS: room_node hash, the room's participants hash. ARGV: room, identity, node id, record.
# Writes only while the room is assigned to that node (the fence); returns 1, or 0 if not.
_PUT_PARTICIPANT_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return 1
"""

# KEYS: the room's participants hash. ARGV: identity, node id. Deletes only the node's own record.
_REMOVE_PARTICIPANT_LUA = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored or cjson.decode(stored)['node_id'] ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
"""

# Waiting for a command wakes up this often to notice a broken connection.
_COMMAND_POLL_S = 1.0

# A lost compare-and-set means another caller changed the room meanwhile; re-reading settles it.
_ASSIGN_ATTEMPTS = 5


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    """Turn any Redis failure into `StoreUnavailable` (the API answers 503, never 500)."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(f"store unavailable: {type(exc).__name__}: {exc}") from exc


class RedisStore:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        node_ttl_s: float = DEFAULT_NODE_TTL_S,
        forget_after_s: float | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._redis = client
        forget_s = forget_after_s if forget_after_s is not None else FORGET_AFTER_TTLS * node_ttl_s
        self._node_ttl_ms = max(1, round(forget_s * 1000))
        self._prefix = prefix
        self._heartbeat = client.register_script(_HEARTBEAT_LUA)
        self._set_state = client.register_script(_SET_STATE_LUA)
        self._assign = client.register_script(_ASSIGN_LUA)
        self._remove_participant = client.register_script(_REMOVE_PARTICIPANT_LUA)
        self._put_participant = client.register_script(_PUT_PARTICIPANT_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        node_ttl_s: float = DEFAULT_NODE_TTL_S,
        forget_after_s: float | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> RedisStore:
        # Short timeouts: an unreachable Redis must turn into a quick 503, not a hung request.
        client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        return cls(client, node_ttl_s=node_ttl_s, forget_after_s=forget_after_s, prefix=prefix)

    def _key(self, template: str, **parts: str) -> str:
        return self._prefix + template.format(**parts)

    async def register_node(self, info: NodeInfo) -> None:
        key = self._key(NODE_KEY, node_id=info.id)
        with _redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"url": info.url, "capacity": info.capacity})
                pipe.hset(key, "state", info.state)
                for field in ("participants", "tracks", "packets_per_s", "cpu"):
                    pipe.hsetnx(key, field, 0)
                pipe.hsetnx(key, "heartbeat_at", "")
                pipe.pexpire(key, self._node_ttl_ms)
                pipe.sadd(self._key(NODES_KEY), info.id)
                await pipe.execute()

    async def heartbeat(self, node_id: str, load: NodeLoad, now: float) -> bool:
        args: list[str | int] = [
            self._prefix,
            self._node_ttl_ms,
            load.participants,
            load.tracks,
            repr(float(load.packets_per_s)),
            repr(float(load.cpu)),
            repr(float(now)),
        ]
        with _redis_errors():
            found = await self._heartbeat(keys=[self._key(NODE_KEY, node_id=node_id)], args=args)
        return bool(found)

    async def set_node_state(self, node_id: str, state: NodeState) -> None:
        with _redis_errors():
            found = await self._set_state(
                keys=[self._key(NODE_KEY, node_id=node_id)], args=[self._prefix, state]
            )
        if not found:
            raise NodeNotFound(node_id)

    async def remove_node(self, node_id: str) -> None:
        with _redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(NODE_KEY, node_id=node_id))
                pipe.delete(self._key(NODE_RECENT_KEY, node_id=node_id))
                pipe.srem(self._key(NODES_KEY), node_id)
                await pipe.execute()

    async def list_nodes(self) -> list[NodeStatus]:
        with _redis_errors():
            ids = sorted(_text(m) for m in await self._redis.smembers(self._key(NODES_KEY)))
            async with self._redis.pipeline(transaction=False) as pipe:
                for node_id in ids:
                    pipe.hgetall(self._key(NODE_KEY, node_id=node_id))
                records: list[dict[str, str]] = await pipe.execute()
            gone = [node_id for node_id, record in zip(ids, records, strict=True) if not record]
            if gone:
                await self._redis.srem(self._key(NODES_KEY), *gone)
        nodes = (
            _node_status(node_id, record)
            for node_id, record in zip(ids, records, strict=True)
            if record
        )
        return [node for node in nodes if node is not None]

    async def create_room(self, room: RoomInfo) -> RoomInfo:
        with _redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self._key(ROOMS_KEY), room.name, _room_json(room))
                pipe.hget(self._key(ROOMS_KEY), room.name)
                _, stored = await pipe.execute()
        return _room_info(_text(stored)) or room

    async def get_room(self, name: str) -> RoomInfo | None:
        with _redis_errors():
            stored = await self._redis.hget(self._key(ROOMS_KEY), name)
        return _room_info(_text(stored)) if stored is not None else None

    async def list_rooms(self) -> list[RoomInfo]:
        with _redis_errors():
            stored = await self._redis.hgetall(self._key(ROOMS_KEY))
        by_name = {_text(name): _text(value) for name, value in stored.items()}
        rooms = (_room_info(by_name[name]) for name in sorted(by_name))
        return [room for room in rooms if room is not None]

    async def delete_room(self, name: str) -> bool:
        with _redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self._key(ROOMS_KEY), name)
                pipe.hdel(self._key(ROOM_NODE_KEY), name)
                pipe.delete(self._key(ROOM_PARTICIPANTS_KEY, room=name))
                pipe.delete(self._key(ROOM_GENERATIONS_KEY, room=name))
                deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def assign_room(self, name: str, now: float, ttl: float) -> NodeStatus | None:
        with _redis_errors():
            for _ in range(_ASSIGN_ATTEMPTS):
                nodes = {node.info.id: node for node in await self.list_nodes()}
                current = await self.room_node(name)
                if current in nodes and is_alive(nodes[current], now, ttl):
                    return nodes[current]
                pending = await self._pending(list(nodes), now, ttl)
                chosen = select_node(list(nodes.values()), now, ttl=ttl, pending=pending)
                if chosen is None:
                    return None
                args = [self._prefix, name, current or "", chosen.info.id, repr(now), repr(ttl)]
                result = await self._assign(keys=[self._key(ROOM_NODE_KEY)], args=args)
                if result[0] != 0:
                    node_id, flat = result[1], result[2]
                    status = _node_status(node_id, dict(zip(flat[::2], flat[1::2], strict=True)))
                    if status is not None:
                        return status
        raise StoreUnavailable(f"room {name!r}: assignment kept conflicting, try again")

    async def room_node(self, name: str) -> str | None:
        with _redis_errors():
            node_id = await self._redis.hget(self._key(ROOM_NODE_KEY), name)
        return _text(node_id) if node_id is not None else None

    async def room_assignments(self) -> dict[str, str]:
        with _redis_errors():
            stored = await self._redis.hgetall(self._key(ROOM_NODE_KEY))
        return {_text(name): _text(node_id) for name, node_id in stored.items()}

    async def room_owners(self, names: Sequence[str]) -> dict[str, str | None]:
        if not names:
            return {}
        with _redis_errors():
            owners = await self._redis.hmget(self._key(ROOM_NODE_KEY), list(names))
        return {
            name: _text(owner) if owner is not None else None
            for name, owner in zip(names, owners, strict=True)
        }

    async def claim_rooms(self, node_id: str, names: Sequence[str]) -> list[str]:
        if not names:
            return []
        key = self._key(ROOM_NODE_KEY)
        with _redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                for name in names:
                    pipe.hsetnx(key, name, node_id)
                pipe.hmget(key, list(names))
                *_, owners = await pipe.execute()
        return [name for name, owner in zip(names, owners, strict=True) if owner != node_id]

    async def identity_generation(self, room: str, identity: str) -> int:
        with _redis_errors():
            stored = await self._redis.hget(self._key(ROOM_GENERATIONS_KEY, room=room), identity)
        return int(stored) if stored is not None else 0

    async def revoke_identity(self, room: str, identity: str) -> int:
        with _redis_errors():
            key = self._key(ROOM_GENERATIONS_KEY, room=room)
            return int(await self._redis.hincrby(key, identity, 1))

    async def admission(self, room: str, identity: str) -> Admission:
        with _redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hget(self._key(ROOMS_KEY), room)
                pipe.hget(self._key(ROOM_NODE_KEY), room)
                pipe.hget(self._key(ROOM_GENERATIONS_KEY, room=room), identity)
                stored, node_id, generation = await pipe.execute()
        return Admission(
            room=_room_info(_text(stored)) if stored is not None else None,
            node_id=_text(node_id) if node_id is not None else None,
            generation=int(generation) if generation is not None else 0,
        )

    async def put_participant(self, room: str, record: ParticipantRecord) -> None:
        keys = [self._key(ROOM_NODE_KEY), self._key(ROOM_PARTICIPANTS_KEY, room=room)]
        args = [room, record.identity, record.node_id, _participant_json(record)]
        with _redis_errors():
            written = await self._put_participant(keys=keys, args=args)
        if not written:
            raise NotRoomOwner(room, record.node_id)

    async def remove_participant(self, room: str, identity: str, node_id: str) -> None:
        with _redis_errors():
            await self._remove_participant(
                keys=[self._key(ROOM_PARTICIPANTS_KEY, room=room)], args=[identity, node_id]
            )

    async def list_participants(self, room: str) -> list[ParticipantRecord]:
        with _redis_errors():
            stored = await self._redis.hgetall(self._key(ROOM_PARTICIPANTS_KEY, room=room))
        by_identity = {_text(identity): _text(value) for identity, value in stored.items()}
        records = (_participant(by_identity[identity]) for identity in sorted(by_identity))
        return [record for record in records if record is not None]

    async def send_command(self, node_id: str, command: NodeCommand) -> int:
        channel = self._key(NODE_COMMANDS_CHANNEL, node_id=node_id)
        with _redis_errors():
            return int(await self._redis.publish(channel, command.to_json()))

    @contextlib.asynccontextmanager
    async def subscribe_commands(self, node_id: str) -> AsyncIterator[AsyncIterator[NodeCommand]]:
        channel = self._key(NODE_COMMANDS_CHANNEL, node_id=node_id)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)

        async def received() -> AsyncIterator[NodeCommand]:
            while True:
                with _redis_errors():
                    message = await pubsub.get_message(timeout=_COMMAND_POLL_S)
                if message is None or message["type"] != "message":
                    continue
                try:
                    yield NodeCommand.from_json(message["data"])
                except BadCommand as exc:
                    logger.warning("x command on %s: %s", channel, exc)

        try:
            with _redis_errors():
                await pubsub.subscribe(channel)
            yield received()
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()

    async def _pending(self, node_ids: Sequence[str], now: float, ttl: float) -> dict[str, int]:
        """Rooms assigned to each node within the last `ttl` seconds."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for node_id in node_ids:
                pipe.zcount(self._key(NODE_RECENT_KEY, node_id=node_id), f"({now - ttl}", "+inf")
            counts: list[int] = await pipe.execute()
        return dict(zip(node_ids, counts, strict=True))


def _text(value: bytes | str) -> str:
    """The client decodes responses; this only narrows redis-py's `bytes | str` for mypy."""
    return value if isinstance(value, str) else value.decode()


def _node_status(node_id: str, record: Mapping[str, str]) -> NodeStatus | None:
    """Decode a node hash; a damaged record is logged and treated as absent."""
    try:
        state = record["state"]
        if state not in NODE_STATES:
            raise ValueError(f"state {state!r}")
        heartbeat_at = record.get("heartbeat_at", "")
        return NodeStatus(
            info=NodeInfo(
                id=node_id, url=record["url"], capacity=int(record["capacity"]), state=state
            ),
            load=NodeLoad(
                participants=int(record["participants"]),
                tracks=int(record["tracks"]),
                packets_per_s=float(record["packets_per_s"]),
                cpu=float(record["cpu"]),
            ),
            heartbeat_at=float(heartbeat_at) if heartbeat_at else None,
        )
    except (KeyError, ValueError) as exc:
        logger.warning("x node %s: unreadable record in Redis (%s)", node_id, exc)
        return None


def _room_json(room: RoomInfo) -> str:
    return json.dumps(dataclasses.asdict(room))


def _room_info(stored: str) -> RoomInfo | None:
    """Decode a stored room; a damaged record is logged and treated as absent."""
    try:
        data: dict[str, Any] = json.loads(stored)
        return RoomInfo(
            name=data["name"],
            max_participants=int(data["max_participants"]),
            empty_timeout_s=int(data["empty_timeout_s"]),
            metadata=str(data["metadata"]),
            created_at=float(data["created_at"]),
            id=str(data["id"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        logger.warning("x room: unreadable record in Redis (%s)", exc)
        return None


def _participant_json(record: ParticipantRecord) -> str:
    return json.dumps(
        {
            "identity": record.identity,
            "name": record.name,
            "node_id": record.node_id,
            "joined_at": record.joined_at,
            "tracks": [[t.id, t.kind, t.muted, t.source] for t in record.tracks],
            "metadata": record.metadata,
            "attributes": dict(record.attributes),
        }
    )


def _participant(stored: str) -> ParticipantRecord | None:
    """Decode a stored participant; a damaged record is logged and treated as absent."""
    try:
        data: dict[str, Any] = json.loads(stored)
        return ParticipantRecord(
            identity=str(data["identity"]),
            name=str(data["name"]),
            node_id=str(data["node_id"]),
            joined_at=float(data["joined_at"]),
            tracks=tuple(
                # a node before sources wrote three items
                TrackRecord(id=str(i), kind=str(k), muted=bool(m), source=str(s[0]) if s else "")
                for i, k, m, *s in data["tracks"]
            ),
            # a node before participant metadata wrote neither
            metadata=str(data.get("metadata", "")),
            attributes={str(k): str(v) for k, v in data.get("attributes", {}).items()},
        )
    except (KeyError, ValueError, TypeError) as exc:
        logger.warning("x participant: unreadable record in Redis (%s)", exc)
        return None
