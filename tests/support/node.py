"""An in-process media node served by uvicorn on a free loopback port, for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from cluster.store.base import Store
from cluster.store.memory_store import MemoryStore
from cluster.store.redis_store import RedisStore
from cluster.tokens import JoinGrants
from control_api.joins import issue_join_token
from control_api.schemas import RoomCreate
from sfu.node import Node
from sfu.settings import NodeSettings
from sfu.signaling.messages import MAX_WS_FRAME_BYTES
from tests.support.keys import TEST_KEY_ID, TEST_SECRET
from tests.support.ports import free_port, free_udp_port


@dataclass
class RunningNode:
    node: Node
    url: str
    store: MemoryStore

    async def token(
        self,
        room: str,
        identity: str,
        *,
        metadata: str = "",
        attributes: dict[str, str] | None = None,
        **grants: Any,
    ) -> str:
        """A join token from the product's join flow: the room is created if missing and
        assigned to this node in its store; ``grants`` are JoinGrants fields."""
        return await join_token(
            self.store, room, identity, JoinGrants(**grants), metadata, attributes
        )


async def join_token(
    store: Store,
    room: str,
    identity: str,
    grants: JoinGrants | None = None,
    metadata: str = "",
    attributes: dict[str, str] | None = None,
) -> str:
    """A join token from the product's join flow on `store` (the room is created if missing
    and assigned to a live node there), signed with the suite's key."""
    now = time.time()
    issued = await issue_join_token(
        store,
        room=RoomCreate(name=room).to_room(now=now),
        key_id=TEST_KEY_ID,
        secret=TEST_SECRET,
        identity=identity,
        name=identity.title(),
        grants=grants or JoinGrants(),
        ttl_s=600,
        now=now,
        node_ttl_s=5.0,  # the default liveness TTL of the nodes tests run
        metadata=metadata,
        attributes=attributes,
    )
    return issued.token


async def redis_token(redis_url: str, room: str, identity: str) -> str:
    """`join_token` on the Redis that node processes started with SFU_REDIS_URL share."""
    store = RedisStore.from_url(redis_url)
    try:
        return await join_token(store, room, identity)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def running_node(**overrides: Any) -> AsyncIterator[RunningNode]:
    """``overrides`` are NodeSettings fields, e.g. ``udp_port=0`` for aioice's ports instead of
    the node's one ICE-lite port (a free one by default)."""
    port = free_port()
    fields: dict[str, Any] = {
        "api_keys": {TEST_KEY_ID: TEST_SECRET},
        "node_host": "127.0.0.1",
        "node_port": port,
        "ice_host_addresses": ["127.0.0.1"],
        "udp_port": free_udp_port(),
        "udp_bind": "127.0.0.1",
        "tcp_port": free_port(),
    }
    settings = NodeSettings(**(fields | overrides))
    store = MemoryStore()
    node = Node(settings, store)
    await node.start()
    server = uvicorn.Server(
        uvicorn.Config(
            node.app(),
            host="127.0.0.1",
            port=port,
            ws_max_size=MAX_WS_FRAME_BYTES,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield RunningNode(node, node.url, store)
    finally:
        server.should_exit = True
        await task
        await node.stop()
        await store.close()
