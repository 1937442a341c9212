"""The join flow end to end with aiortc participants instead of browsers, over real UDP."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.client import Client, conference, receives_from
from tests.support.node import running_node

pytestmark = pytest.mark.webrtc


async def test_three_participants_see_and_hear_each_other_and_a_late_fourth() -> None:
    async with (
        running_node() as running,
        conference(running.url, "standup", ["alice", "bob", "carol"], running.token) as clients,
    ):
        names = list(clients)
        for name, client in clients.items():
            assert all(client.frame_sizes[o][0] > 0 for o in names if o != name)

        dave = Client(running.url, "standup", await running.token("standup", "dave"))
        try:
            await dave.connect()
            await dave.wait_until(lambda: receives_from(dave, names))
            for name in names:
                await clients[name].wait_until(lambda c=clients[name]: receives_from(c, ["dave"]))

            await clients["bob"].close()
            for name in ("alice", "carol"):
                await clients[name].wait_until(
                    lambda c=clients[name]: "bob" not in c.participants, timeout=3
                )
            await dave.wait_until(lambda: "bob" not in dave.participants, timeout=3)
            assert not any(c.errors for c in (*clients.values(), dave))
        finally:
            await dave.close()


async def test_the_heartbeat_reports_the_load_of_a_call() -> None:
    """What node selection and autoscaling read: packets/s and CPU from the node's counters."""
    async with (
        running_node() as running,
        conference(running.url, "busy", ["alice", "bob"], running.token),
    ):

        async def reported() -> None:
            while True:
                (status,) = await running.store.list_nodes()
                if status.load.packets_per_s > 0:
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(reported(), 10)
        (status,) = await running.store.list_nodes()
        load = status.load
        assert (load.participants, load.tracks) == (2, 4)
        assert 50 < load.packets_per_s < 5_000  # two publishers of audio and video, both ways
        assert 0 < load.cpu < 2


async def test_a_leave_reaches_everyone_even_past_a_participant_already_closing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A leave renegotiates everyone who remains. One of them whose connections closed under it
    (leaving at the same moment, as a whole webinar does at its end) must not stop the others
    being told, nor the leaver's own cleanup."""
    names = ["alice", "bob", "carol"]
    async with (
        running_node() as running,
        conference(running.url, "exodus", names, running.token) as clients,
    ):
        mux = running.node.mux
        assert mux is not None and len(mux.by_ufrag) == 6
        room = running.node.rooms["exodus"]
        alice = room.members["alice"]
        sessions = {p.member.identity: p for p in running.node.participants}
        await sessions["bob"].close()  # its own leave has not run yet
        with caplog.at_level(logging.ERROR):
            await room.leave(alice)
        carol = clients["carol"]
        await carol.wait_until(lambda: "alice" not in carol.participants, timeout=10)
        assert list(room.members) == ["bob", "carol"]
        assert len(mux.by_ufrag) == 2  # carol's: alice's and bob's connections are closed
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
