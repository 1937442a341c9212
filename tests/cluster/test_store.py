"""The `Store` contract, run against MemoryStore and a real redis-server (RedisStore)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from cluster.commands import NodeCommand
from cluster.errors import NodeNotFound, NotRoomOwner
from cluster.models import (
    Admission,
    NodeInfo,
    NodeLoad,
    ParticipantRecord,
    RoomInfo,
    TrackRecord,
)
from cluster.store import Store
from cluster.store.redis_store import _participant
from tests.support.stores import RedisStoreFactory

TTL = 6.0  # heartbeat freshness, seconds


def node(node_id: str, *, capacity: int = 100) -> NodeInfo:
    return NodeInfo(id=node_id, url=f"ws://{node_id}.test/ws", capacity=capacity)


def room(name: str, *, created_at: float = 1.0, metadata: str = "") -> RoomInfo:
    return RoomInfo(
        name=name,
        max_participants=10,
        empty_timeout_s=300,
        metadata=metadata,
        created_at=created_at,
        id=f"RM_{name}",
    )


async def live_nodes(store: Store, *ids: str, now: float, participants: int = 0) -> None:
    for node_id in ids:
        await store.register_node(node(node_id))
        assert await store.heartbeat(node_id, NodeLoad(participants=participants), now)


# -- nodes ---------------------------------------------------------------------------------


async def test_registered_node_has_no_heartbeat_until_it_beats(store: Store) -> None:
    await store.register_node(node("n1"))
    [status] = await store.list_nodes()
    assert status.info == node("n1")
    assert status.heartbeat_at is None
    load = NodeLoad(participants=3, tracks=5, packets_per_s=1234.5, cpu=0.25)
    assert await store.heartbeat("n1", load, 100.5)
    [status] = await store.list_nodes()
    assert (status.load, status.heartbeat_at) == (load, 100.5)


async def test_heartbeat_of_unknown_node_asks_for_registration(store: Store) -> None:
    assert await store.heartbeat("ghost", NodeLoad(), 1.0) is False
    assert await store.list_nodes() == []


async def test_registering_again_updates_info_and_keeps_load(store: Store) -> None:
    await live_nodes(store, "n1", now=10.0, participants=4)
    await store.register_node(NodeInfo(id="n1", url="ws://moved/ws", capacity=7))
    [status] = await store.list_nodes()
    assert status.info.url == "ws://moved/ws"
    assert status.info.capacity == 7
    assert (status.load.participants, status.heartbeat_at) == (4, 10.0)


async def test_nodes_are_listed_by_id(store: Store) -> None:
    for node_id in ("n3", "n1", "n2"):
        await store.register_node(node(node_id))
    assert [status.info.id for status in await store.list_nodes()] == ["n1", "n2", "n3"]


async def test_node_state_changes_and_unknown_node_is_an_error(store: Store) -> None:
    await store.register_node(node("n1"))
    await store.set_node_state("n1", "draining")
    [status] = await store.list_nodes()
    assert status.info.state == "draining"
    with pytest.raises(NodeNotFound):
        await store.set_node_state("ghost", "draining")
    assert [status.info.id for status in await store.list_nodes()] == ["n1"]


async def test_removed_node_is_forgotten(store: Store) -> None:
    await live_nodes(store, "n1", "n2", now=1.0)
    await store.remove_node("n1")
    await store.remove_node("never-registered")
    assert [status.info.id for status in await store.list_nodes()] == ["n2"]
    assert await store.heartbeat("n1", NodeLoad(), 2.0) is False


# -- rooms ---------------------------------------------------------------------------------


async def test_create_room_is_idempotent(store: Store) -> None:
    first = await store.create_room(room("r1", created_at=1.0, metadata="first"))
    again = await store.create_room(room("r1", created_at=2.0, metadata="second"))
    assert first == again == room("r1", created_at=1.0, metadata="first")
    assert await store.get_room("r1") == first


async def test_rooms_are_listed_by_name_and_deleted(store: Store) -> None:
    for name in ("b", "a", "c"):
        await store.create_room(room(name))
    assert [r.name for r in await store.list_rooms()] == ["a", "b", "c"]
    assert await store.delete_room("b") is True
    assert await store.delete_room("b") is False
    assert await store.get_room("b") is None
    assert [r.name for r in await store.list_rooms()] == ["a", "c"]


async def test_deleting_a_room_drops_its_assignment(store: Store) -> None:
    await live_nodes(store, "n1", now=1.0)
    await store.create_room(room("r1"))
    assert await store.assign_room("r1", 1.0, TTL) is not None
    assert await store.delete_room("r1")
    assert await store.room_node("r1") is None


# -- assignment ----------------------------------------------------------------------------


async def test_no_node_means_no_assignment(store: Store) -> None:
    assert await store.assign_room("r1", 1.0, TTL) is None
    await store.register_node(node("silent"))  # registered but never heartbeated
    assert await store.assign_room("r1", 1.0, TTL) is None
    assert await store.room_node("r1") is None


async def test_assignment_picks_least_loaded_and_then_sticks(store: Store) -> None:
    await live_nodes(store, "busy", now=100.0, participants=9)
    await live_nodes(store, "idle", now=100.0, participants=1)
    chosen = await store.assign_room("r1", 100.0, TTL)
    assert chosen is not None and chosen.info.id == "idle"
    assert await store.room_node("r1") == "idle"
    # The idle node fills up, but the room stays where it is while that node is alive.
    assert await store.heartbeat("idle", NodeLoad(participants=50), 101.0)
    again = await store.assign_room("r1", 102.0, TTL)
    assert again is not None and again.info.id == "idle"
    assert again.load.participants == 50


async def test_new_rooms_spread_before_heartbeats_show_them(store: Store) -> None:
    await live_nodes(store, "a", "b", "c", now=100.0)
    chosen = [await store.assign_room(f"r{i}", 100.0, TTL) for i in range(6)]
    ids = [status.info.id for status in chosen if status is not None]
    assert ids == ["a", "b", "c", "a", "b", "c"]


async def test_pending_rooms_age_out_after_ttl(store: Store) -> None:
    await live_nodes(store, "a", "b", now=100.0)
    first = await store.assign_room("r1", 100.0, TTL)
    assert first is not None and first.info.id == "a"
    await live_nodes(store, "a", "b", now=100.0 + TTL)
    later = await store.assign_room("r2", 100.0 + TTL, TTL)
    assert later is not None and later.info.id == "a"  # r1 no longer counts as pending


async def test_full_nodes_get_no_new_rooms(store: Store) -> None:
    await store.register_node(node("small", capacity=1))
    assert await store.heartbeat("small", NodeLoad(), 100.0)
    assert await store.assign_room("r1", 100.0, TTL) is not None
    assert await store.assign_room("r2", 100.0, TTL) is None  # r1 is pending on it


async def test_draining_node_keeps_its_rooms_but_gets_no_new_ones(store: Store) -> None:
    await live_nodes(store, "a", now=100.0)
    assert await store.assign_room("old", 100.0, TTL) is not None
    await store.set_node_state("a", "draining")
    kept = await store.assign_room("old", 101.0, TTL)
    assert kept is not None and kept.info.id == "a"
    assert await store.assign_room("new", 101.0, TTL) is None
    await live_nodes(store, "b", now=101.0)
    moved = await store.assign_room("new", 101.0, TTL)
    assert moved is not None and moved.info.id == "b"


async def test_dead_nodes_room_moves_on_next_assignment(store: Store) -> None:
    await live_nodes(store, "a", "b", now=100.0)
    first = await store.assign_room("r1", 100.0, TTL)
    assert first is not None and first.info.id == "a"
    later = 100.0 + TTL + 1
    assert await store.heartbeat("b", NodeLoad(participants=30), later)  # only b still beats
    moved = await store.assign_room("r1", later, TTL)
    assert moved is not None and moved.info.id == "b"
    assert await store.room_node("r1") == "b"


async def test_removed_nodes_room_moves_on_next_assignment(store: Store) -> None:
    await live_nodes(store, "a", "b", now=100.0)
    assert (await store.room_node("r1")) is None
    first = await store.assign_room("r1", 100.0, TTL)
    assert first is not None and first.info.id == "a"
    await store.remove_node("a")
    moved = await store.assign_room("r1", 100.0, TTL)
    assert moved is not None and moved.info.id == "b"


async def test_concurrent_joins_of_a_new_room_land_on_one_node(store: Store) -> None:
    await live_nodes(store, "a", "b", "c", now=100.0)

    async def shuffle_loads() -> None:
        # Keep changing which node looks least loaded while the joins race.
        for i in range(30):
            target = "abc"[i % 3]
            for node_id in "abc":
                load = NodeLoad(participants=0 if node_id == target else 5)
                await store.heartbeat(node_id, load, 100.0)
            await asyncio.sleep(0)

    results = await asyncio.gather(
        shuffle_loads(), *(store.assign_room("hot", 100.0, TTL) for _ in range(50))
    )
    chosen = {status.info.id for status in results[1:] if status is not None}
    assert len(results[1:]) == 50
    assert all(status is not None for status in results[1:])
    assert len(chosen) == 1
    assert await store.room_node("hot") == chosen.pop()


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


# -- participants, claims and commands -------------------------------------------------------


def participant(identity: str, node_id: str = "n1", *tracks: TrackRecord) -> ParticipantRecord:
    return ParticipantRecord(
        identity=identity, name=identity.title(), node_id=node_id, joined_at=5.0, tracks=tracks
    )


async def owned(store: Store, node_id: str, *rooms: str) -> None:
    assert await store.claim_rooms(node_id, rooms) == []


async def test_participants_are_recorded_per_room(store: Store) -> None:
    video = TrackRecord(id="TR_v", kind="video", muted=True, source="screen")
    await owned(store, "n1", "r1", "r2")
    described = dataclasses.replace(
        participant("ada"), metadata='{"seat": 4}', attributes={"role": "host"}
    )
    await store.put_participant("r1", participant("bob", "n1", video))
    await store.put_participant("r1", described)
    await store.put_participant("r2", participant("cy"))
    assert await store.list_participants("r1") == [described, participant("bob", "n1", video)]
    assert await store.list_participants("nowhere") == []


def test_a_record_from_a_node_before_track_sources_and_metadata_still_reads() -> None:
    stored = (
        '{"identity":"a","name":"A","node_id":"n1","joined_at":1,"tracks":[["T","video",false]]}'
    )
    assert _participant(stored) == ParticipantRecord(
        "a", "A", "n1", 1.0, (TrackRecord("T", "video", False, source=""),), "", {}
    )


async def test_only_the_node_a_room_is_assigned_to_writes_its_participants(store: Store) -> None:
    await owned(store, "n1", "r1")
    with pytest.raises(NotRoomOwner) as refused:
        await store.put_participant("r1", participant("bob", "n2"))
    assert refused.value.room == "r1"
    with pytest.raises(NotRoomOwner):
        await store.put_participant("unassigned", participant("bob", "n1"))
    assert await store.list_participants("r1") == []
    assert await store.list_participants("unassigned") == []


async def test_only_the_hosting_node_removes_a_participant(store: Store) -> None:
    await live_nodes(store, "n1", now=0.0)
    await owned(store, "n1", "r1")
    await store.put_participant("r1", participant("bob", "n1"))
    await live_nodes(store, "n2", now=100.0)  # n1 is dead by then: the room moves
    assert (await store.assign_room("r1", 100.0, TTL)).info.id == "n2"  # type: ignore[union-attr]
    await store.put_participant("r1", participant("bob", "n2"))  # rejoined on another node
    await store.remove_participant("r1", "bob", "n1")  # the old node learns late
    assert await store.list_participants("r1") == [participant("bob", "n2")]
    await store.remove_participant("r1", "bob", "n2")
    await store.remove_participant("r1", "ghost", "n2")
    assert await store.list_participants("r1") == []


async def test_deleting_a_room_forgets_its_participants_and_generations(store: Store) -> None:
    await store.create_room(room("r1"))
    await owned(store, "n1", "r1")
    await store.put_participant("r1", participant("bob"))
    await store.revoke_identity("r1", "bob")
    assert await store.delete_room("r1")
    assert await store.list_participants("r1") == []
    assert await store.identity_generation("r1", "bob") == 0
    assert await store.admission("r1", "bob") == Admission(room=None, node_id=None, generation=0)


async def test_revoking_an_identity_raises_its_generation_in_that_room_only(store: Store) -> None:
    assert await store.identity_generation("r1", "bob") == 0
    assert await store.revoke_identity("r1", "bob") == 1
    assert await store.revoke_identity("r1", "bob") == 2
    assert await store.identity_generation("r1", "bob") == 2
    assert await store.identity_generation("r1", "ada") == 0
    assert await store.identity_generation("r2", "bob") == 0


async def test_admission_reads_room_node_and_generation_at_once(store: Store) -> None:
    created = await store.create_room(room("r1"))
    await owned(store, "n1", "r1")
    await store.revoke_identity("r1", "bob")
    assert await store.admission("r1", "bob") == Admission(created, "n1", 1)
    assert await store.admission("r1", "ada") == Admission(created, "n1", 0)
    assert await store.admission("r2", "bob") == Admission(None, None, 0)


async def test_room_owners_names_each_rooms_node(store: Store) -> None:
    await owned(store, "n1", "a")
    await owned(store, "n2", "b")
    assert await store.room_owners(["a", "b", "none"]) == {"a": "n1", "b": "n2", "none": None}
    assert await store.room_owners([]) == {}


async def test_a_node_claims_only_unassigned_rooms(store: Store) -> None:
    await live_nodes(store, "n1", now=10.0)
    assert (await store.assign_room("taken", 10.0, TTL)).info.id == "n1"  # type: ignore[union-attr]
    assert await store.claim_rooms("n2", ["free", "taken"]) == ["taken"]
    assert await store.room_assignments() == {"free": "n2", "taken": "n1"}
    assert await store.claim_rooms("n2", []) == []


async def test_commands_reach_the_listening_node_only(store: Store) -> None:
    assert await store.send_command("n1", NodeCommand(kind="drain")) == 0
    command = NodeCommand(kind="mute_track", room="r1", identity="bob", track_id="TR_a", muted=True)
    async with store.subscribe_commands("n1") as received:
        assert await store.send_command("n1", command) == 1
        assert await store.send_command("n2", NodeCommand(kind="drain")) == 0
        assert await asyncio.wait_for(anext(received), 5) == command
    assert await store.send_command("n1", command) == 0


@pytest.mark.redis
async def test_a_garbled_command_is_skipped(make_redis_store: RedisStoreFactory) -> None:
    store = make_redis_store()
    async with store.subscribe_commands("n1") as received:
        assert await store._redis.publish(f"{store._prefix}node:n1:commands", "{not json") == 1
        await store.send_command("n1", NodeCommand(kind="drain"))
        assert await asyncio.wait_for(anext(received), 5) == NodeCommand(kind="drain")
