"""The multi-node deployment end to end: a real redis-server, the control API and three media
node processes on loopback, with aiortc participants over real UDP.

What the control plane promises: one node per room under concurrent joins, failover when a node
dies, draining, recovery after a Redis restart, and REST calls that act on live calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import websockets

from cluster.webhooks import verify
from tests.conftest import RedisProcess
from tests.support.client import Client
from tests.support.cluster import SECRET, Cluster, cluster
from tests.support.webhooks import Receiver

pytestmark = [pytest.mark.webrtc, pytest.mark.redis]

DEAD_WITHIN_S = 5.0  # the bound: a killed node is reported dead within 5 s
MEDIA_TIMEOUT_S = 20.0


@pytest.fixture
async def redis(redis_factory: Callable[..., RedisProcess]) -> RedisProcess:
    return redis_factory()


@pytest.fixture
async def three_nodes(redis: RedisProcess, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with cluster(redis.url, tmp_path, env={"SFU_DRAIN_TIMEOUT_S": "60"}) as running:
        yield running


@contextlib.asynccontextmanager
async def people(clients: Sequence[Client]) -> AsyncIterator[Sequence[Client]]:
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()


def receiving(client: Client, others: Sequence[str], frames: int) -> bool:
    return all(client.frames[o]["video"] >= frames for o in others)


async def media_flows(a: Client, b: Client, identities: tuple[str, str]) -> None:
    """Each receives ~1 s more video of the other than it had."""
    wanted_a = a.frames[identities[1]]["video"] + 20
    wanted_b = b.frames[identities[0]]["video"] + 20
    await a.wait_until(lambda: receiving(a, [identities[1]], wanted_a), MEDIA_TIMEOUT_S)
    await b.wait_until(lambda: receiving(b, [identities[0]], wanted_b), MEDIA_TIMEOUT_S)


async def test_concurrent_joins_of_a_new_room_land_on_one_node(three_nodes: Cluster) -> None:
    tickets = await asyncio.gather(*(three_nodes.token("fresh", f"p{i}") for i in range(50)))
    assert len({ticket["node_url"] for ticket in tickets}) == 1
    client = aioredis.Redis.from_url(three_nodes.redis_url, decode_responses=True)
    try:
        assignments = await client.hgetall("sfu:room_node")
    finally:
        await client.aclose()
    [node_id] = [n.id for n in three_nodes.nodes.values() if n.url == tickets[0]["node_url"]]
    assert assignments == {"fresh": node_id}


async def test_a_killed_node_is_reported_dead_and_its_call_moves(three_nodes: Cluster) -> None:
    ada, bob = await asyncio.gather(
        three_nodes.join("call", "ada"), three_nodes.join("call", "bob")
    )
    async with people([ada, bob]):
        await media_flows(ada, bob, ("ada", "bob"))
        doomed = three_nodes.node_of(ada)
        doomed.signal(signal.SIGKILL)

        async def reported_dead() -> bool:
            return not (await three_nodes.node_status())[doomed.id]["alive"]

        dead_after = await three_nodes.wait_for(reported_dead, timeout=2 * DEAD_WITHIN_S)
        print(f"\nSIGKILL -> node reported dead after {dead_after:.1f} s")
        assert dead_after <= DEAD_WITHIN_S + 0.5, dead_after  # + one poll and a request
        await asyncio.wait_for(ada.closed.wait(), 5)  # the socket died with the process

    # Rejoining, as the web client does: new tokens name another node, and media flows again.
    ada, bob = await asyncio.gather(
        three_nodes.join("call", "ada"), three_nodes.join("call", "bob")
    )
    async with people([ada, bob]):
        assert ada.url == bob.url != doomed.url
        await media_flows(ada, bob, ("ada", "bob"))
        room = (await three_nodes.api.get("/v1/rooms/call")).json()
        assert room["node"]["id"] == three_nodes.node_of(ada).id
        assert room["participants"] == 2


@pytest.mark.parametrize("how", ["api", "sigterm"])
async def test_a_draining_node_keeps_its_call_and_exits_when_it_ends(
    three_nodes: Cluster, how: str
) -> None:
    ada, bob = await asyncio.gather(
        three_nodes.join("call", "ada"), three_nodes.join("call", "bob")
    )
    async with people([ada, bob]):
        await media_flows(ada, bob, ("ada", "bob"))
        draining = three_nodes.node_of(ada)
        if how == "api":
            response = await three_nodes.api.post(f"/v1/nodes/{draining.id}/drain")
            assert (response.status_code, response.json()["state"]) == (202, "draining")
        else:
            draining.signal(signal.SIGTERM)

        async def marked_draining() -> bool:
            return (await three_nodes.node_status())[draining.id]["state"] == "draining"

        await three_nodes.wait_for(marked_draining)
        tickets = await asyncio.gather(*(three_nodes.token(f"new{i}", "x") for i in range(6)))
        assert draining.url not in {ticket["node_url"] for ticket in tickets}
        await media_flows(ada, bob, ("ada", "bob"))  # the call goes on
        assert draining.process.poll() is None
    # Both left: the node exits by itself, cleanly, and deregisters.
    assert await asyncio.to_thread(draining.process.wait, 15) == 0
    assert draining.id not in await three_nodes.node_status()


async def test_nodes_and_calls_survive_a_redis_restart(
    three_nodes: Cluster, redis: RedisProcess, redis_factory: Callable[..., RedisProcess]
) -> None:
    ada, bob = await asyncio.gather(
        three_nodes.join("call", "ada"), three_nodes.join("call", "bob")
    )
    async with people([ada, bob]):
        host = three_nodes.node_of(ada)
        redis.stop()
        assert (await three_nodes.api.get("/readyz")).status_code == 503
        assert (
            await three_nodes.api.post("/v1/rooms/x/tokens", json={"identity": "a"})
        ).status_code == 503
        redis_factory(port=redis.port)  # empty: no persistence

        async def recovered() -> bool:
            nodes = await three_nodes.node_status()
            ready = (await three_nodes.api.get("/readyz")).status_code == 200
            return ready and len(nodes) == 3 and all(n["alive"] for n in nodes.values())

        await three_nodes.wait_for(recovered, timeout=20)
        await three_nodes.wait_until(
            lambda: all(n.health()["commands"] for n in three_nodes.nodes.values())
        )

        async def call_known_again() -> bool:
            listed = await three_nodes.api.get("/v1/rooms/call/participants")
            return (await three_nodes.node_status())[host.id]["rooms"] == ["call"] and (
                listed.status_code == 200 and len(listed.json()) == 2
            )

        await three_nodes.wait_for(call_known_again)
        # The call's node re-claimed its room: a late joiner lands beside the others.
        cy = await three_nodes.join("call", "cy")
        async with people([cy]):
            assert cy.url == host.url
            await cy.wait_until(lambda: receiving(cy, ["ada", "bob"], 10), MEDIA_TIMEOUT_S)
        await media_flows(ada, bob, ("ada", "bob"))


async def test_rest_calls_act_on_a_live_call(three_nodes: Cluster) -> None:
    ada, bob, cy = await asyncio.gather(
        *(three_nodes.join("call", who) for who in ("ada", "bob", "cy"))
    )
    async with people([ada, bob, cy]):
        await media_flows(ada, bob, ("ada", "bob"))
        listed = (await three_nodes.api.get("/v1/rooms/call/participants")).json()
        assert [p["identity"] for p in listed] == ["ada", "bob", "cy"]
        assert {t["kind"] for t in listed[0]["tracks"]} == {"audio", "video"}

        # Mute ada's microphone: she is told (her client stops it), and so are the others.
        mic = ada.published_track("audio")
        response = await three_nodes.api.post(
            f"/v1/rooms/call/participants/ada/tracks/{mic}/mute", json={"muted": True}
        )
        assert response.status_code == 200
        for client in (ada, bob, cy):
            await client.wait_until(lambda c=client: c.muted.get(("ada", mic)) is True, 5)

        async def mute_recorded() -> bool:
            people_now = (await three_nodes.api.get("/v1/rooms/call/participants")).json()
            return any(t["id"] == mic and t["muted"] for t in people_now[0]["tracks"])

        await three_nodes.wait_for(mute_recorded, 5)
        # The mute is enforced by the node: ada's audio stops reaching bob (her client would stop
        # it anyway; a client that does not still gets nothing through)
        await asyncio.sleep(1)  # packets in flight
        heard = bob.frames["ada"]["audio"]
        await asyncio.sleep(1.5)
        assert bob.frames["ada"]["audio"] <= heard + 5, (heard, bob.frames["ada"])
        # and her camera, muted too, pauses; unmuting it resumes it
        camera = ada.published_track("video")
        url = f"/v1/rooms/call/participants/ada/tracks/{camera}/mute"
        assert (await three_nodes.api.post(url, json={"muted": True})).status_code == 200
        await asyncio.sleep(1)
        seen = bob.frames["ada"]["video"]
        await asyncio.sleep(1.5)
        assert bob.frames["ada"]["video"] <= seen + 5, (seen, bob.frames["ada"])
        assert (await three_nodes.api.post(url, json={"muted": False})).status_code == 200
        await bob.wait_until(lambda: bob.frames["ada"]["video"] > seen + 20, 10)

        # Remove cy: the node closes her connection with 4410; the others see her leave.
        assert (await three_nodes.api.delete("/v1/rooms/call/participants/cy")).status_code == 204
        await asyncio.wait_for(cy.closed.wait(), 5)
        assert (cy.close_code, cy.close_reason) == (4410, "removed by the server")
        await ada.wait_until(lambda: "cy" not in ada.participants, 5)
        listed = (await three_nodes.api.get("/v1/rooms/call/participants")).json()
        assert [p["identity"] for p in listed] == ["ada", "bob"]
        # The removal sticks: her token is refused, she stays out of the REST view; only a
        # token minted after the removal lets her in again.
        removed = "removed from the room: this token was revoked"
        assert await refusal(cy.url, "call", cy.token) == (4410, removed)
        listed = (await three_nodes.api.get("/v1/rooms/call/participants")).json()
        assert [p["identity"] for p in listed] == ["ada", "bob"]
        again = await three_nodes.token("call", "cy")
        assert await refusal(again["node_url"], "call", again["token"]) is None

        # Delete the room: everyone is disconnected, and the room is gone.
        assert (await three_nodes.api.delete("/v1/rooms/call")).status_code == 204
        for client in (ada, bob):
            await asyncio.wait_for(client.closed.wait(), 5)
            assert (client.close_code, client.close_reason) == (1000, "room deleted")
        assert (await three_nodes.api.get("/v1/rooms/call")).status_code == 404
        # Tokens minted before the delete neither join nor bring the room back, not even once a
        # new room of that name exists.
        assert await refusal(ada.url, "call", ada.token) == (4404, "room 'call' does not exist")
        assert (await three_nodes.api.get("/v1/rooms/call")).status_code == 404
        assert (await three_nodes.api.post("/v1/rooms", json={"name": "call"})).status_code == 201
        earlier = "token is for an earlier room of that name"
        assert await refusal(bob.url, "call", bob.token) == (4401, earlier)


async def refusal(url: str, room: str, token: str) -> tuple[int, str] | None:
    """Join on signaling alone: None if joined, else the close code and reason."""
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "join", "protocol": 1, "room": room, "token": token}))
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
        assert first["type"] == "joined", first
        return None


async def test_nodes_send_signed_webhooks(
    redis: RedisProcess, tmp_path: Path, receiver: Receiver
) -> None:
    env = {"SFU_WEBHOOK_URLS": receiver.url()}
    async with cluster(redis.url, tmp_path, nodes=1, env=env) as one_node:
        ada = await one_node.join("call", "ada", publish=False)
        async with people([ada]):
            bob = await one_node.join("call", "bob", publish=False)
            await bob.close()
        received = await receiver.wait_for(6)
    events = [(json.loads(r.body)["event"], json.loads(r.body)["participant"]) for r in received]

    def who(name: str) -> dict[str, object]:
        return {"identity": name, "name": name, "metadata": "", "attributes": {}}

    assert events == [
        ("room_started", None),
        ("participant_joined", who("ada")),
        ("participant_joined", who("bob")),
        ("participant_left", who("bob")),
        ("participant_left", who("ada")),
        ("room_finished", None),
    ]
    for request in received:
        assert verify(request.body, request.headers["x-sfu-signature"], SECRET, time.time())
        assert json.loads(request.body)["node_id"] == "node-1"
