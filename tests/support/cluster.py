"""A multi-node deployment on one machine, as the README describes: a real redis-server, the
control API and several media-node processes, each on its own loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.client import Client
from tests.support.ports import free_port
from tests.support.process import node_env, start, stop, wait_healthy

KEY_ID, SECRET = "cluster", "c" * 40
POLL_S = 0.1


@dataclass
class NodeProcess:
    id: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/signal"

    def health(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()  # type: ignore[no-any-return]

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)


@dataclass
class Cluster:
    redis_url: str
    base_url: str  # the control API and the web page
    api: httpx.AsyncClient
    env: dict[str, str]
    workdir: Path
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    async def add_node(self, node_id: str, **env: str) -> NodeProcess:
        port = free_port()
        log = self.workdir / f"{node_id}.log"
        full_env = node_env(port, {**self.env, "SFU_NODE_ID": node_id, **env})
        node = NodeProcess(node_id, port, start(["-m", "sfu"], full_env, log), log)
        self.nodes[node_id] = node
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", node.process, log)
        await self.wait_until(lambda: node.health()["commands"] and node.health()["registered"])
        return node

    async def token(self, room: str, identity: str) -> dict[str, Any]:
        response = await self.api.post(f"/v1/rooms/{room}/tokens", json={"identity": identity})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def join(self, room: str, identity: str, *, publish: bool = True) -> Client:
        ticket = await self.token(room, identity)
        client = Client(ticket["node_url"], room, ticket["token"])
        await client.connect(publish=publish)
        return client

    def node_of(self, client: Client) -> NodeProcess:
        return next(node for node in self.nodes.values() if node.url == client.url)

    async def node_status(self) -> dict[str, dict[str, Any]]:
        response = await self.api.get("/v1/nodes")
        response.raise_for_status()
        return {node["id"]: node for node in response.json()}

    @staticmethod
    async def wait_until(predicate: Callable[[], Any], timeout: float = 20.0) -> float:
        """Poll `predicate` (sync) until it is true; returns the seconds it took."""
        started = time.monotonic()
        while True:
            with contextlib.suppress(httpx.HTTPError, OSError):
                if predicate():
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not true within {timeout} s")
            await asyncio.sleep(POLL_S)

    async def wait_for(self, check: Callable[[], Any], timeout: float = 20.0) -> float:
        """Poll an async `check` until it returns something true; returns the seconds taken."""
        started = time.monotonic()
        while True:
            with contextlib.suppress(httpx.HTTPError, OSError):
                if await check():
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not true within {timeout} s")
            await asyncio.sleep(POLL_S)


@contextlib.asynccontextmanager
async def cluster(
    redis_url: str, workdir: Path, *, nodes: int = 3, env: Mapping[str, str] = {}
) -> AsyncIterator[Cluster]:
    """Redis at `redis_url` (the caller owns it), a control API and `nodes` media nodes."""
    shared = {
        "SFU_REDIS_URL": redis_url,
        "SFU_API_KEYS": f"{KEY_ID}:{SECRET}",
        "SFU_DEMO": "false",
        **env,
    }
    port = free_port()
    log = workdir / "control_api.log"
    api_env = {**os.environ, **shared}
    control = start(["-m", "control_api", "--host", "127.0.0.1", "--port", str(port)], api_env, log)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, auth=(KEY_ID, SECRET), timeout=10) as api:
        running = Cluster(redis_url, base, api, shared, workdir)
        try:
            await wait_healthy(f"{base}/healthz", control, log)
            await asyncio.gather(*(running.add_node(f"node-{i}") for i in range(1, nodes + 1)))
            yield running
        finally:
            for node in running.nodes.values():
                stop(node.process)
            stop(control)
