"""Fenced room ownership, with a real redis-server, the control API and two node processes:
a node paused (SIGSTOP) past its liveness TTL loses its room to the other node when someone
joins meanwhile; once resumed, it closes that room's participants at once (4503, rejoin) and
forwards nothing more for it, and the call goes on, whole, on the other node.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from sfu.control.stall import StallWatch
from tests.conftest import RedisProcess
from tests.support.client import receives_from
from tests.support.cluster import Cluster, NodeProcess, cluster

pytestmark = [pytest.mark.webrtc, pytest.mark.redis]


@pytest.fixture
async def two_nodes(
    redis_factory: Callable[..., RedisProcess], tmp_path: Path
) -> AsyncIterator[Cluster]:
    async with cluster(redis_factory().url, tmp_path, nodes=2) as running:
        yield running


def packets_out(node: NodeProcess) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{node.port}/metrics", timeout=5).text
    return sum(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("sfu_packets_out_total")
    )


async def test_a_node_paused_past_its_ttl_gives_up_the_room_that_moved(
    two_nodes: Cluster,
) -> None:
    ada = await two_nodes.join("call", "ada")
    bob = await two_nodes.join("call", "bob")
    clients = [ada, bob]
    try:
        await ada.wait_until(lambda: receives_from(ada, ["bob"]))
        await bob.wait_until(lambda: receives_from(bob, ["ada"]))
        paused = two_nodes.node_of(ada)
        other = next(n for n in two_nodes.nodes.values() if n is not paused)

        paused.signal(signal.SIGSTOP)
        try:
            await two_nodes.wait_for(lambda: _alive(two_nodes, paused.id, False), timeout=15)
            cy = await two_nodes.join("call", "cy")  # the room moves to the other node
            clients.append(cy)
            assert cy.url == other.url
        finally:
            paused.signal(signal.SIGCONT)

        for client in (ada, bob):
            await asyncio.wait_for(client.closed.wait(), 5)
            assert client.close_code == 4503, client.close_reason
            assert client.close_reason == "room moved: rejoin"
        sent = packets_out(paused)
        # The moved call rejoins the other node, and everyone sees everyone there.
        ada2 = await two_nodes.join("call", "ada")
        bob2 = await two_nodes.join("call", "bob")
        clients += [ada2, bob2]
        assert ada2.url == bob2.url == other.url
        for client, others in ((ada2, ["bob", "cy"]), (bob2, ["ada", "cy"]), (cy, ["ada", "bob"])):
            await client.wait_until(lambda c=client, o=others: receives_from(c, o), 20)
        # The paused node forwarded nothing more after it let the room go.
        assert packets_out(paused) == sent
        listed = (await two_nodes.api.get("/v1/rooms/call/participants")).json()
        assert sorted(p["identity"] for p in listed) == ["ada", "bob", "cy"]
    finally:
        for client in clients:
            await client.close()


async def _alive(cluster: Cluster, node_id: str, alive: bool) -> bool:
    return bool((await cluster.node_status())[node_id]["alive"] is alive)


def test_a_stall_is_a_gap_longer_than_the_limit_between_two_looks() -> None:
    now = [100.0]
    watch = StallWatch(5.0, clock=lambda: now[0])
    now[0] += 4.9
    assert not watch.stalled()
    now[0] += 4.9  # 9.8 s since creation, but only 4.9 since the last look
    assert not watch.stalled()
    now[0] += 5.1
    assert watch.stalled()
    assert not watch.stalled()  # noticed once
