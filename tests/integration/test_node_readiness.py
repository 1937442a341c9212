"""A media node's /readyz: ready only while registered with the control plane and not draining.

This is the readiness probe of the Helm chart's media pods (helm/templates/media.yaml): a node
the store does not know, or one that is draining, must not count as ready.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cluster.models import NodeLoad
from cluster.store.memory_store import MemoryStore
from tests.support.node import running_node

REGISTERED_WITHIN_S = 6.0  # the node beats every 2 s


async def readyz(base: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/readyz")
        return response.status_code, response.json()


async def test_readyz_follows_registration_and_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    original = MemoryStore.heartbeat

    async def store_down(self: MemoryStore, node_id: str, load: NodeLoad, now: float) -> bool:
        raise ConnectionError("store unreachable")

    monkeypatch.setattr(MemoryStore, "heartbeat", store_down)
    async with running_node() as running:
        base = f"http://127.0.0.1:{running.node.settings.node_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            health = await http.get("/healthz")
        assert health.status_code == 200  # alive, but...
        assert await readyz(base) == (
            503,
            {"ready": False, "registered": False, "draining": False},
        )

        monkeypatch.setattr(MemoryStore, "heartbeat", original)  # the store answers again
        deadline = asyncio.get_running_loop().time() + REGISTERED_WITHIN_S
        while (status := await readyz(base))[0] != 200:
            assert asyncio.get_running_loop().time() < deadline, status
            await asyncio.sleep(0.2)
        assert status[1] == {"ready": True, "registered": True, "draining": False}

        running.node.drain()  # what SIGTERM (the pod's preStop hook) does
        assert await readyz(base) == (
            503,
            {"ready": False, "registered": True, "draining": True},
        )
