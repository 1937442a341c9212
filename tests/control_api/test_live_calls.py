"""REST routes that act on live calls: participants, removal, mute, drain, room deletion.

The node side is played by a command subscription on the same store, so each test shows what
a node would be told; `tests/integration/test_cluster.py` runs the real thing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from cluster.commands import NodeCommand
from cluster.metadata import MetadataUpdate
from cluster.models import ParticipantRecord, TrackRecord
from cluster.store import Store
from cluster.tokens import JoinGrants
from control_api.app import create_app
from tests.control_api.test_app import AUTH, client_for, live_node, settings
from tests.support.stores import T0, Clock

VIDEO = TrackRecord(id="TR_v", kind="video", source="camera")


@pytest.fixture
async def client(store: Store, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings(), store, clock=clock)) as http:
        yield http


async def in_call(store: Store, room: str, node_id: str, *identities: str) -> None:
    """A room on a live node with these participants, as the node would record them."""
    await live_node(store, node_id, T0)
    await store.claim_rooms(node_id, [room])
    for identity in identities:
        await store.put_participant(
            room, ParticipantRecord(identity, identity.title(), node_id, T0, (VIDEO,))
        )


@contextlib.asynccontextmanager
async def node_ear(store: Store, node_id: str) -> AsyncIterator[asyncio.Queue[NodeCommand]]:
    """Commands the node `node_id` receives while the block runs."""
    heard: asyncio.Queue[NodeCommand] = asyncio.Queue()
    async with store.subscribe_commands(node_id) as commands:

        async def listen() -> None:
            async for command in commands:
                heard.put_nowait(command)

        task = asyncio.create_task(listen())
        try:
            yield heard
        finally:
            task.cancel()


async def test_participants_of_a_room(
    client: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob")
    described = ParticipantRecord("ada", "Ada", "n1", T0, (VIDEO,), "{}", {"role": "host"})
    await store.put_participant("r1", described)
    response = await client.get("/v1/rooms/r1/participants", auth=AUTH)
    assert response.status_code == 200
    assert response.json() == [
        {
            "identity": who,
            "name": who.title(),
            "node_id": "n1",
            "joined_at": T0,
            "tracks": [{"id": "TR_v", "kind": "video", "muted": False, "source": "camera"}],
            "metadata": metadata,
            "attributes": attributes,
        }
        for who, metadata, attributes in (("ada", "{}", {"role": "host"}), ("bob", "", {}))
    ]
    assert (await client.get("/v1/rooms/r1", auth=AUTH)).json()["participants"] == 2
    clock.now += 60  # the node stopped beating: its participants are gone with it
    assert (await client.get("/v1/rooms/r1/participants", auth=AUTH)).json() == []
    assert (await client.get("/v1/rooms/r1", auth=AUTH)).json()["participants"] == 0
    missing = await client.get("/v1/rooms/nope/participants", auth=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"detail": "room 'nope' not found"})


async def test_removing_a_participant_tells_its_node(
    client: httpx.AsyncClient, store: Store
) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob", "ada")
    async with node_ear(store, "n1") as heard:
        response = await client.delete("/v1/rooms/r1/participants/bob", auth=AUTH)
        assert response.status_code == 204
        command = await asyncio.wait_for(heard.get(), 5)
    assert command == NodeCommand("remove_participant", room="r1", identity="bob")
    names = [
        p["identity"] for p in (await client.get("/v1/rooms/r1/participants", auth=AUTH)).json()
    ]
    assert names == ["ada"]
    again = await client.delete("/v1/rooms/r1/participants/bob", auth=AUTH)
    assert (again.status_code, again.json()) == (
        404,
        {"detail": "participant 'bob' is not in room 'r1'"},
    )


async def test_a_node_that_does_not_listen_is_503(client: httpx.AsyncClient, store: Store) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob")
    response = await client.delete("/v1/rooms/r1/participants/bob", auth=AUTH)
    assert response.status_code == 503
    assert "does not listen" in response.json()["detail"]
    assert response.headers["Retry-After"] == "2"
    assert len((await client.get("/v1/rooms/r1/participants", auth=AUTH)).json()) == 1


async def test_muting_a_track(client: httpx.AsyncClient, store: Store) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob")
    url = "/v1/rooms/r1/participants/bob/tracks/TR_v/mute"
    async with node_ear(store, "n1") as heard:
        response = await client.post(url, json={"muted": True}, auth=AUTH)
        command = await asyncio.wait_for(heard.get(), 5)
    assert response.status_code == 200
    assert response.json()["tracks"] == [
        {"id": "TR_v", "kind": "video", "muted": True, "source": "camera"}
    ]
    assert command == NodeCommand(
        "mute_track", room="r1", identity="bob", track_id="TR_v", muted=True
    )
    unknown = await client.post(
        "/v1/rooms/r1/participants/bob/tracks/TR_x/mute", json={"muted": True}, auth=AUTH
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "participant 'bob' publishes no track 'TR_x'"},
    )
    for body, loc in (({}, ["body", "muted"]), ({"muted": "yes"}, ["body", "muted"])):
        bad = await client.post(url, json=body, auth=AUTH)
        assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, loc)


async def test_deleting_a_room_disconnects_its_node(
    client: httpx.AsyncClient, store: Store
) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob")
    async with node_ear(store, "n1") as heard:
        assert (await client.delete("/v1/rooms/r1", auth=AUTH)).status_code == 204
        assert await asyncio.wait_for(heard.get(), 5) == NodeCommand("delete_room", room="r1")
    assert (await client.get("/v1/rooms/r1/participants", auth=AUTH)).status_code == 404
    assert await store.list_participants("r1") == []


async def test_draining_a_node(client: httpx.AsyncClient, store: Store) -> None:
    await in_call(store, "r1", "n1")
    await live_node(store, "n2", T0)
    async with node_ear(store, "n1") as heard:
        response = await client.post("/v1/nodes/n1/drain", auth=AUTH)
        assert await asyncio.wait_for(heard.get(), 5) == NodeCommand("drain")
    assert response.status_code == 202
    assert (response.json()["state"], response.json()["rooms"]) == ("draining", ["r1"])
    token = await client.post("/v1/rooms/r2/tokens", json={"identity": "a"}, auth=AUTH)
    assert token.json()["node_url"] == "wss://n2.test/ws"  # no new room on a draining node
    again = await client.post("/v1/nodes/n1/drain", auth=AUTH)
    assert (again.status_code, again.json()["state"]) == (202, "draining")
    missing = await client.post("/v1/nodes/ghost/drain", auth=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"detail": "node 'ghost' not found"})


async def test_changing_grants_reaches_the_node_and_bad_ones_are_refused_by_field(
    client: httpx.AsyncClient, store: Store
) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob")
    url = "/v1/rooms/r1/participants/bob/grants"
    async with node_ear(store, "n1") as heard:
        response = await client.put(url, json={"sources": ["camera", "microphone"]}, auth=AUTH)
        command = await asyncio.wait_for(heard.get(), 5)
    assert response.status_code == 200 and response.json()["identity"] == "bob"
    assert command == NodeCommand(
        "update_grants",
        room="r1",
        identity="bob",
        grants=JoinGrants(sources=("camera", "microphone")),
    )
    assert NodeCommand.from_json(command.to_json()) == command  # as it travels
    bad = await client.put(url, json={"sources": ["window"]}, auth=AUTH)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "sources", 0]
    unknown = await client.put("/v1/rooms/r1/participants/zed/grants", json={}, auth=AUTH)
    assert unknown.status_code == 404


async def test_updating_a_participant_reaches_the_node_and_bad_bodies_are_refused_by_field(
    client: httpx.AsyncClient, store: Store
) -> None:
    await client.post("/v1/rooms", json={"name": "r1"}, auth=AUTH)
    await in_call(store, "r1", "n1", "bob")
    url = "/v1/rooms/r1/participants/bob"
    body = {"name": "Robert", "attributes": {"role": "host"}}
    async with node_ear(store, "n1") as heard:
        response = await client.patch(url, json=body, auth=AUTH)
        command = await asyncio.wait_for(heard.get(), 5)
    assert command == NodeCommand(
        "update_metadata",
        room="r1",
        identity="bob",
        update=MetadataUpdate(name="Robert", attributes={"role": "host"}),
    )
    assert NodeCommand.from_json(command.to_json()) == command  # as it travels
    shown = response.json()
    assert response.status_code == 200
    assert (shown["name"], shown["metadata"], shown["attributes"]) == (
        "Robert",
        "",  # not given: kept
        {"role": "host"},
    )
    for bad, loc, message in [
        ({"metadata": "x" * 4097}, ["body", "metadata"], "at most 4096 characters"),
        ({"attributes": {str(i): "" for i in range(17)}}, ["body", "attributes"], "at most 16"),
        ({"attributes": {"role": 1}}, ["body", "attributes", "role"], "valid string"),
        ({"name": "a\nb"}, ["body", "name"], "pattern"),
        ({"identity": "x"}, ["body", "identity"], "Extra inputs"),
    ]:
        refused = await client.patch(url, json=bad, auth=AUTH)
        (error,) = refused.json()["detail"]
        assert (refused.status_code, error["loc"]) == (422, loc)
        assert message in error["msg"]
    unknown = await client.patch("/v1/rooms/r1/participants/zed", json={}, auth=AUTH)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "participant 'zed' is not in room 'r1'"}
