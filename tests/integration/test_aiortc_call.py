"""The join flow end to end with aiortc participants instead of browsers, over real UDP."""

from __future__ import annotations

import pytest

from tests.support.client import Client
from tests.support.node import demo_token, running_node

pytestmark = pytest.mark.webrtc


def _receives_from(client: Client, others: list[str], minimum: int = 10) -> bool:
    return all(
        client.frames[o]["video"] >= minimum and client.frames[o]["audio"] >= minimum
        for o in others
    )


async def test_three_participants_see_and_hear_each_other_and_a_late_fourth() -> None:
    async with running_node() as running:
        names = ["alice", "bob", "carol"]
        clients = {n: Client(running.url, "standup", demo_token("standup", n)) for n in names}
        try:
            for client in clients.values():
                await client.connect()
            for name, client in clients.items():
                await client.wait_until(
                    lambda c=client, n=name: _receives_from(c, [o for o in names if o != n])
                )
                assert all(client.frame_sizes[o][0] > 0 for o in names if o != name)

            dave = Client(running.url, "standup", demo_token("standup", "dave"))
            clients["dave"] = dave
            await dave.connect()
            await dave.wait_until(lambda: _receives_from(dave, names))
            for name in names:
                await clients[name].wait_until(lambda c=clients[name]: _receives_from(c, ["dave"]))

            await clients.pop("bob").close()
            for client in clients.values():
                await client.wait_until(lambda c=client: "bob" not in c.participants, timeout=3)
            assert not any(c.errors for c in clients.values())
        finally:
            for client in clients.values():
                await client.close()
