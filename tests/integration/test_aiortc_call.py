"""The join flow end to end with aiortc participants instead of browsers, over real UDP."""

from __future__ import annotations

import pytest

from tests.support.client import Client, conference, receives_from
from tests.support.node import demo_token, running_node

pytestmark = pytest.mark.webrtc


async def test_three_participants_see_and_hear_each_other_and_a_late_fourth() -> None:
    async with (
        running_node() as running,
        conference(running.url, "standup", ["alice", "bob", "carol"], demo_token) as clients,
    ):
        names = list(clients)
        for name, client in clients.items():
            assert all(client.frame_sizes[o][0] > 0 for o in names if o != name)

        dave = Client(running.url, "standup", demo_token("standup", "dave"))
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
