"""Screen share with aiortc participants: a second video published as `screen` reaches the others
by its source, and stopping it ends it everywhere while the camera goes on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cluster.commands import NodeCommand
from cluster.tokens import JoinGrants
from tests.support.client import Client, receives_from
from tests.support.node import RunningNode, running_node
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.webrtc


@contextlib.asynccontextmanager
async def _people(running: RunningNode, *names: str) -> AsyncIterator[list[Client]]:
    """Clients of room "r" on ``running``, not connected yet; closed afterwards."""
    clients = [Client(running.url, "r", await running.token("r", name)) for name in names]
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()


def _events(client: Client, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.track_events if e["type"] == kind]


async def test_a_shared_screen_reaches_the_others_and_stopping_it_ends_it() -> None:
    async with running_node() as running, _people(running, "ann", "ben") as (ann, ben):
        await ann.connect()
        await ben.connect()
        await ben.wait_until(lambda: receives_from(ben, ["ann"]))
        assert sorted(ben.sources("ann").values()) == ["camera", "microphone"]

        screen = await ann.share_screen()
        await ben.wait_until(lambda: _events(ben, "track_published") != [])
        shared = _events(ben, "track_published")[-1]["track"]
        assert shared["kind"] == "video" and shared["source"] == "screen"
        screen_id = shared["id"]
        await ben.wait_until(lambda: ben.track_frames[screen_id] > 10)
        assert ben.sources("ann")[screen_id] == "screen"

        screen.direction = "inactive"  # the client stops sharing
        stopped = time.monotonic()
        await ann.offer_again()
        await ben.wait_until(lambda: _events(ben, "track_unpublished") != [], timeout=2)
        print(f"\nscreen share ended for the other side {time.monotonic() - stopped:.2f} s in")
        assert _events(ben, "track_unpublished") == [
            {"type": "track_unpublished", "participant": "ann", "track_id": screen_id}
        ]
        camera_frames = ben.frames["ann"]["video"]
        await ben.wait_until(lambda: ben.frames["ann"]["video"] > camera_frames + 10)
        screen_frames = ben.track_frames[screen_id]
        await ben.wait_until(lambda: ben.frames["ann"]["video"] > camera_frames + 40)
        assert ben.track_frames[screen_id] == screen_frames
        assert not ann.errors and not ben.errors


async def test_a_source_that_does_not_fit_the_kind_is_refused_by_name() -> None:
    async with running_node() as running, _people(running, "ann", "ben") as (ann, ben):
        await ann.connect()
        await ben.connect(publish=False)
        await ann.share_screen(source="microphone")
        await ann.wait_until(lambda: ann.errors != [])
        (error,) = ann.errors
        assert error["code"] == "bad_message" and "cannot be microphone" in error["message"]
        await ben.wait_until(lambda: len(ben.sources("ann")) == 3)
        assert sorted(ben.sources("ann").values()) == ["camera", "camera", "microphone"]


async def test_webhooks_carry_track_events_in_order(receiver: Receiver) -> None:
    async with running_node(webhook_urls=[receiver.url()]) as running:
        ann = Client(running.url, "r", await running.token("r", "ann"))
        try:
            await ann.connect()
            screen = await ann.share_screen()
            audio = ann.published_track("audio")
            await ann.send({"type": "mute", "track_id": audio, "muted": True})
            received = await receiver.wait_for(6)  # room, ann, camera, mic, screen, mute
            screen.direction = "inactive"
            await ann.offer_again()
            await receiver.wait_for(7)
        finally:
            await ann.close()
        received = await receiver.wait_for(11)  # then ann's last two tracks, ann, the room
    events = [json.loads(r.body) for r in received]
    shown = [
        (e["event"], e["track"] and (e["track"]["source"], e["track"]["muted"])) for e in events
    ]
    assert shown == [
        ("room_started", None),
        ("participant_joined", None),
        ("track_published", ("camera", False)),
        ("track_published", ("microphone", False)),
        ("track_published", ("screen", False)),
        ("track_muted", ("microphone", True)),
        ("track_unpublished", ("screen", False)),
        ("track_unpublished", ("camera", False)),
        ("track_unpublished", ("microphone", True)),
        ("participant_left", None),
        ("room_finished", None),
    ]
    assert {e["participant"]["identity"] for e in events if e["participant"]} == {"ann"}
    assert events[4]["track"]["id"] == events[6]["track"]["id"]


async def test_a_hidden_participant_receives_everyone_and_is_in_no_roster() -> None:
    async with running_node() as running:
        ann = Client(running.url, "r", await running.token("r", "ann"))
        bot = Client(running.url, "r", await running.token("r", "bot", hidden=True))
        ben = Client(running.url, "r", await running.token("r", "ben"))
        try:
            await ann.connect()
            await bot.connect()  # it tries to publish: a hidden participant may not
            await ben.connect()
            await bot.wait_until(lambda: receives_from(bot, ["ann", "ben"]))
            assert bot.participants == {"ann", "ben"}  # it sees them...
            assert "bot" not in ann.participants and "bot" not in ben.participants  # ...not they it
            assert [e["code"] for e in bot.errors] == ["not_allowed", "not_allowed"]
            await bot.close()
            await ann.wait_until(lambda: receives_from(ann, ["ben"], minimum=30))
            assert ann.sources("bot") == {} and "bot" not in ann.participants
        finally:
            for client in (ann, bot, ben):
                await client.close()


async def test_a_grant_change_stops_a_screen_share_everywhere() -> None:
    async with running_node() as running, _people(running, "ann", "ben") as (ann, ben):
        await ann.connect()
        await ben.connect()
        await ann.share_screen()
        await ben.wait_until(lambda: "screen" in ben.sources("ann").values())
        screen_id = next(t for t, s in ben.sources("ann").items() if s == "screen")
        await ben.wait_until(lambda: ben.track_frames[screen_id] > 10)
        no_screens = JoinGrants(sources=("camera", "microphone"))
        await running.node.handle(
            NodeCommand("update_grants", room="r", identity="ann", grants=no_screens)
        )
        told = {"type": "track_unpublished", "participant": "ann", "track_id": screen_id}
        await ann.wait_until(lambda: told in ann.track_events)  # its client stops sending
        await ben.wait_until(lambda: told in ben.track_events)
        frames = ben.track_frames[screen_id]
        camera = ben.frames["ann"]["video"]
        await ben.wait_until(lambda: ben.frames["ann"]["video"] > camera + 30)
        assert ben.track_frames[screen_id] == frames
        await ann.share_screen()  # sharing again is refused now
        await ann.wait_until(lambda: any(e["code"] == "not_allowed" for e in ann.errors))
        camera = ben.frames["ann"]["video"]
        await ben.wait_until(lambda: ben.frames["ann"]["video"] > camera + 30)
        assert [t for t, s in ben.sources("ann").items() if s == "screen"] == [screen_id]


async def test_a_room_admin_mutes_and_removes_others_and_no_one_else_may() -> None:
    async with running_node() as running:
        admin = Client(running.url, "r", await running.token("r", "mod", room_admin=True))
        async with _people(running, "ann", "ben") as (ann, ben):
            try:
                await admin.connect(publish=False)
                await ann.connect()
                await ben.connect()
                audio = ann.published_track("audio")
                await ben.send(
                    {"type": "mute", "participant": "ann", "track_id": audio, "muted": True}
                )
                await ben.wait_until(lambda: ben.errors != [])
                assert (
                    ben.errors[-1]["code"] == "not_allowed"
                    and "room_admin" in ben.errors[-1]["message"]
                )
                await ben.send({"type": "remove_participant", "identity": "ann"})
                await ben.wait_until(lambda: len(ben.errors) == 2)
                assert ben.errors[-1]["code"] == "not_allowed"

                await admin.send(
                    {"type": "mute", "participant": "ann", "track_id": audio, "muted": True}
                )
                await ann.wait_until(lambda: ann.muted.get(("ann", audio)) is True)  # told to stop
                await ben.wait_until(lambda: ben.muted.get(("ann", audio)) is True)
                await admin.send({"type": "remove_participant", "identity": "zed"})
                await admin.wait_until(lambda: admin.errors != [])
                assert admin.errors[-1]["code"] == "unknown_participant"
                await admin.send({"type": "remove_participant", "identity": "ann"})
                await asyncio.wait_for(ann.closed.wait(), 5)
                assert (ann.close_code, ann.close_reason) == (4410, "removed by mod")
                await ben.wait_until(lambda: "ann" not in ben.participants)
            finally:
                await admin.close()
