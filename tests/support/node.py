"""An in-process media node served by uvicorn on a free loopback port, for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from control_api.settings import DEMO_KEY_ID, DEMO_SECRET
from control_api.store.memory_store import MemoryStore
from control_api.tokens import JoinGrants, mint_join_token
from sfu.node import Node
from sfu.settings import NodeSettings
from sfu.signaling.messages import MAX_FRAME_BYTES
from tests.support.ports import free_port, free_udp_port


def demo_token(room: str, identity: str, *, ttl_s: float = 600, publish: bool = True) -> str:
    """A join token signed with the demo key that test nodes accept."""
    return mint_join_token(
        key_id=DEMO_KEY_ID,
        secret=DEMO_SECRET,
        identity=identity,
        name=identity.title(),
        room=room,
        grants=JoinGrants(publish=publish, subscribe=True),
        ttl_s=ttl_s,
        now=time.time(),
    )


@dataclass
class RunningNode:
    node: Node
    url: str


@contextlib.asynccontextmanager
async def running_node(**overrides: Any) -> AsyncIterator[RunningNode]:
    """``overrides`` are NodeSettings fields, e.g. ``udp_port=0`` for aioice's ports instead of
    the node's one ICE-lite port (a free one by default)."""
    port = free_port()
    fields: dict[str, Any] = {
        "demo": True,
        "node_host": "127.0.0.1",
        "node_port": port,
        "ice_host_addresses": ["127.0.0.1"],
        "udp_port": free_udp_port(),
        "udp_bind": "127.0.0.1",
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
            ws_max_size=MAX_FRAME_BYTES,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield RunningNode(node, node.url)
    finally:
        server.should_exit = True
        await task
        await node.stop()
        await store.close()
