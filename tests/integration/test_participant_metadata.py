"""Participant metadata with aiortc clients through a real node: from the token into the
others' roster, changed live by the participant (with the grant) or a node command (as the REST
API sends it), told to everyone, refused by name, and reported to webhooks in order."""

from __future__ import annotations

import json

import pytest

from cluster.commands import NodeCommand
from cluster.metadata import MetadataUpdate
from tests.support.client import Client
from tests.support.node import running_node
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.webrtc


async def test_metadata_from_the_token_is_in_the_roster_and_live_changes_reach_everyone() -> None:
    async with running_node() as running:
        token = await running.token(
            "r", "ann", metadata='{"seat": 4}', attributes={"role": "host"}, update_metadata=True
        )
        ann = Client(running.url, "r", token)
        ben = Client(running.url, "r", await running.token("r", "ben", metadata="b"))
        try:
            await ann.connect(publish=False)
            await ben.connect(publish=False)
            assert (ben.infos["ann"]["metadata"], ben.infos["ann"]["attributes"]) == (
                '{"seat": 4}',
                {"role": "host"},
            )
            await ann.wait_until(lambda: "ben" in ann.infos)
            assert ann.infos["ben"]["metadata"] == "b" and ann.infos["ben"]["attributes"] == {}

            await ann.send(
                {"type": "update_metadata", "name": "Ann L.", "attributes": {"role": "guest"}}
            )
            for client in (ann, ben):  # the participant itself is told too
                await client.wait_until(lambda c=client: c.updates != [])  # type: ignore[misc]
                (update,) = client.updates
                info = update["participant"]
                assert (info["identity"], info["name"], info["metadata"], info["attributes"]) == (
                    "ann",
                    "Ann L.",
                    '{"seat": 4}',  # not given: kept
                    {"role": "guest"},
                )
            assert not ann.errors and not ben.errors
        finally:
            await ann.close()
            await ben.close()


async def test_updates_without_the_grant_or_over_the_bounds_are_refused_by_name() -> None:
    async with running_node() as running:
        ann = Client(running.url, "r", await running.token("r", "ann", update_metadata=True))
        ben = Client(running.url, "r", await running.token("r", "ben"))  # no grant: the default
        try:
            await ann.connect(publish=False)
            await ben.connect(publish=False)
            await ben.send({"type": "update_metadata", "metadata": "mine"})
            await ann.send({"type": "update_metadata", "metadata": "x" * 5000})
            await ann.send({"type": "update_metadata", "attributes": {"role": 1}})
            await ben.handled()
            await ann.handled()  # the connections stay: they answer a ping after the refusal
            (refused,) = ben.errors
            assert (refused["code"], refused["ref"]) == ("not_allowed", "update_metadata")
            assert "update_metadata grant" in refused["message"]
            too_large, not_string = ann.errors
            assert (too_large["code"], too_large["ref"]) == ("too_large", "update_metadata")
            assert too_large["message"] == "metadata: 5000 characters, over the 4096 limit"
            assert not_string["code"] == "bad_message"
            assert "attributes.role: " in not_string["message"]
            assert ann.updates == [] and ben.updates == []
            assert ann.infos["ben"]["metadata"] == "" and ben.infos["ann"]["metadata"] == ""
        finally:
            await ann.close()
            await ben.close()


async def test_a_node_command_updates_a_participant_and_a_hidden_one_stays_hidden() -> None:
    async with running_node() as running:
        ann = Client(running.url, "r", await running.token("r", "ann"))
        bot = Client(running.url, "r", await running.token("r", "bot", hidden=True))
        try:
            await ann.connect(publish=False)
            await bot.connect(publish=False)
            update = MetadataUpdate(name="Annie", metadata="m", attributes={"k": "v"})
            await running.node.handle(
                NodeCommand("update_metadata", room="r", identity="ann", update=update)
            )
            hide = MetadataUpdate(name="Recorder")
            await running.node.handle(
                NodeCommand("update_metadata", room="r", identity="bot", update=hide)
            )
            await bot.wait_until(lambda: len(bot.updates) == 2)  # ann's, then its own
            assert [u["participant"]["name"] for u in bot.updates] == ["Annie", "Recorder"]
            await ann.wait_until(lambda: ann.updates != [])
            await ann.handled()
            assert [u["participant"]["identity"] for u in ann.updates] == ["ann"]
            info = ann.updates[0]["participant"]
            assert (info["name"], info["metadata"], info["attributes"]) == (
                "Annie",
                "m",
                {"k": "v"},
            )
            record = running.node.presence.records["r"]["ann"]
            assert (record.name, record.metadata, record.attributes) == ("Annie", "m", {"k": "v"})
        finally:
            await ann.close()
            await bot.close()


async def test_webhooks_carry_participant_updates_in_order(receiver: Receiver) -> None:
    async with running_node(webhook_urls=[receiver.url()]) as running:
        token = await running.token("r", "ann", metadata="a", update_metadata=True)
        ann = Client(running.url, "r", token)
        try:
            await ann.connect(publish=False)
            await ann.send({"type": "update_metadata", "metadata": "b"})
            await ann.send({"type": "update_metadata", "metadata": "b"})  # no change: no event
            await ann.send({"type": "update_metadata", "attributes": {"mood": "ok"}})
            await ann.wait_until(lambda: len(ann.updates) == 2)
        finally:
            await ann.close()
        received = await receiver.wait_for(6)
    events = [json.loads(r.body) for r in received]
    assert [(e["event"], e["participant"] and e["participant"]["metadata"]) for e in events] == [
        ("room_started", None),
        ("participant_joined", "a"),
        ("participant_updated", "b"),
        ("participant_updated", "b"),
        ("participant_left", "b"),
        ("room_finished", None),
    ]
    assert events[3]["participant"]["attributes"] == {"mood": "ok"}
