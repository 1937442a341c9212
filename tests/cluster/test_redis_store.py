"""What only the Redis store has: key expiry, shared state between replicas, failures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from cluster.errors import StoreUnavailable
from cluster.models import NodeInfo, NodeLoad
from cluster.store import RedisStore, open_store
from cluster.store.memory_store import MemoryStore
from cluster.store.redis_store import NODE_KEY, ROOMS_KEY
from tests.support.ports import free_port

pytestmark = pytest.mark.redis

TTL = 6.0
MakeRedisStore = Callable[..., RedisStore]  # the `make_redis_store` fixture


async def test_node_key_expires_without_heartbeats(make_redis_store: MakeRedisStore) -> None:
    store = make_redis_store(node_ttl_s=0.1, forget_after_s=0.3)
    await store.register_node(NodeInfo(id="n1", url="ws://n1", capacity=5))
    assert await store.heartbeat("n1", NodeLoad(), 100.0)
    await asyncio.sleep(0.2)
    assert await store.heartbeat("n1", NodeLoad(), 100.2)  # refreshes the TTL
    await asyncio.sleep(0.2)
    assert [node.info.id for node in await store.list_nodes()] == ["n1"]
    await asyncio.sleep(0.4)
    assert await store.list_nodes() == []
    assert await store.heartbeat("n1", NodeLoad(), 101.0) is False


async def test_two_replicas_share_nodes_rooms_and_assignments(
    make_redis_store: MakeRedisStore,
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first = make_redis_store(prefix=prefix)
    second = make_redis_store(prefix=prefix)
    for node_id in ("a", "b", "c"):
        await first.register_node(NodeInfo(id=node_id, url=f"ws://{node_id}", capacity=100))
        assert await second.heartbeat(node_id, NodeLoad(), 100.0)
    results = await asyncio.gather(
        *((first if i % 2 else second).assign_room("shared", 100.0, TTL) for i in range(40))
    )
    assert len({status.info.id for status in results if status is not None}) == 1
    assert all(status is not None for status in results)
    assert await first.room_node("shared") == await second.room_node("shared")


async def test_damaged_records_are_skipped(
    make_redis_store: MakeRedisStore, redis_server: str
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    store = make_redis_store(prefix=prefix)
    await store.register_node(NodeInfo(id="good", url="ws://good", capacity=5))
    await store.register_node(NodeInfo(id="bad", url="ws://bad", capacity=5))
    raw = aioredis.Redis.from_url(redis_server, decode_responses=True)
    try:
        await raw.hset(prefix + NODE_KEY.format(node_id="bad"), "capacity", "lots")
        await raw.hset(prefix + ROOMS_KEY, "broken", "{not json")
    finally:
        await raw.aclose()
    assert [node.info.id for node in await store.list_nodes()] == ["good"]
    assert await store.get_room("broken") is None
    assert await store.list_rooms() == []


async def test_unreachable_redis_is_unavailable_not_a_crash() -> None:
    port = free_port()  # nothing listens there
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        assert await store.ping() is False
        with pytest.raises(StoreUnavailable, match="store unavailable"):
            await store.list_nodes()
        with pytest.raises(StoreUnavailable):
            await store.assign_room("r1", 1.0, TTL)
        with pytest.raises(StoreUnavailable):
            await store.heartbeat("n1", NodeLoad(), 1.0)
    finally:
        await store.close()


async def test_open_store_picks_the_backend(redis_server: str) -> None:
    memory = open_store(None)
    assert isinstance(memory, MemoryStore)
    shared = open_store(redis_server)
    try:
        assert isinstance(shared, RedisStore)
        assert await shared.ping() is True
    finally:
        await shared.close()
