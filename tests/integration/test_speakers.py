"""Active speakers through a real node: aiortc participants publish tones whose loudness aiortc
writes into each packet's audio-level extension; the node names whoever is loud."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.client import Client
from tests.support.node import running_node
from tests.support.tone import Tone

pytestmark = pytest.mark.webrtc

LOUD = 0.3  # -13 dBov RMS: a voice close to the microphone
QUIET = 0.0005  # -69 dBov: a quiet room
QUIET_S = 1.5  # longer than the detector needs to name anyone


def speaking(client: Client) -> list[str]:
    """Who the node last said speaks, loudest first."""
    return [s["participant"] for s in client.speakers[-1][1]["speakers"]] if client.speakers else []


def heard(client: Client) -> set[str]:
    return {s["participant"] for _, m in client.speakers for s in m["speakers"]}


async def until(client: Client, predicate: Any) -> float:
    """The loop time of the speakers message after which `predicate` held."""
    await client.wait_until(lambda: client.speakers and predicate(), timeout=10)
    return client.speakers[-1][0]


async def test_the_loud_participant_is_named_within_a_second_and_dropped_within_two() -> None:
    loop = asyncio.get_running_loop()
    async with running_node() as running:
        tones = {name: Tone(QUIET) for name in ("talker", "ann", "bob")}
        clients = {n: Client(running.url, "r", await running.token("r", n)) for n in tones}
        try:
            for name, client in clients.items():
                await client.connect(video=False, audio=tones[name])
            bob = clients["bob"]
            await bob.wait_until(lambda: bob.frames["talker"]["audio"] > 10)
            await asyncio.sleep(QUIET_S)
            assert all(not c.speakers for c in clients.values())  # near-silence names nobody

            started = loop.time()
            tones["talker"].amplitude = LOUD
            named = await until(bob, lambda: speaking(bob) == ["talker"]) - started
            message = bob.speakers[-1][1]
            assert message["dominant"] == "talker"
            talker_audio = clients["talker"].published_track("audio")
            assert message["speakers"][0]["track_id"] == talker_audio
            assert 0 < message["speakers"][0]["level"] <= 1
            await clients["talker"].wait_until(lambda: speaking(clients["talker"]) == ["talker"])
            await asyncio.sleep(2.0 - named)  # two seconds of speech

            stopped = loop.time()
            tones["talker"].amplitude = QUIET
            dropped = await until(bob, lambda: speaking(bob) == []) - stopped
            assert bob.speakers[-1][1]["dominant"] == "talker"  # the floor stays till another
            print(
                f"speaker named after {named * 1000:.0f} ms, dropped after {dropped * 1000:.0f} ms"
            )
            assert named < 1.0
            assert dropped < 2.0
            assert heard(bob) == heard(clients["ann"]) == {"talker"}
            assert running.node.speaker_updates >= 2
            body, _ = running.node.metrics.render()
            assert b"sfu_speaker_updates_total " in body
            assert b"sfu_active_speakers 0.0" in body
        finally:
            for client in clients.values():
                await client.close()


async def test_a_muted_microphone_never_speaks() -> None:
    async with running_node() as running:
        loud = Tone(LOUD)
        talker = Client(running.url, "r", await running.token("r", "talker"))
        bob = Client(running.url, "r", await running.token("r", "bob"))
        try:
            await talker.connect(video=False, audio=loud)
            await bob.connect(video=False, audio=Tone(QUIET))
            await until(bob, lambda: speaking(bob) == ["talker"])
            track = talker.published_track("audio")
            await talker.send({"type": "mute", "track_id": track, "muted": True})
            await until(
                bob, lambda: speaking(bob) == [] and bob.speakers[-1][1]["dominant"] is None
            )
            told = len(bob.speakers)
            await bob.wait_until(lambda: bob.frames["talker"]["audio"] > 100)  # still sending
            await asyncio.sleep(1.0)
            assert len(bob.speakers) == told  # its loud packets name nobody
        finally:
            await talker.close()
            await bob.close()
