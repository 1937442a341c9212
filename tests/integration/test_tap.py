"""The audio tap through a real node: an aiortc participant publishes a 440 Hz sine (Opus, from
aiortc's encoder); bots on /v1/tap receive it as PCM, mixed or per participant, and the FFT of
a second of it peaks at 440 Hz."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.client import Client
from tests.support.node import running_node
from tests.support.tapbot import TapBot, peak_hz, sine, tap_url
from tests.support.tone import Tone

pytestmark = pytest.mark.webrtc

LOUD = 0.3


async def metric(url: str, name: str) -> float:
    async with httpx.AsyncClient() as http:
        response = await http.get(url.replace("ws://", "http://").replace("/v1/signal", "/metrics"))
    text = response.text
    found = re.search(rf"^{name}(?:_total)? (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


async def test_bots_hear_the_tone_mixed_at_16k_and_per_participant_at_48k() -> None:
    async with running_node() as running:
        talker = Client(running.url, "r", await running.token("r", "talker"))
        ann = Client(running.url, "r", await running.token("r", "ann"))
        mixed = TapBot(tap_url(running.url), await running.token("r", "mixer", hidden=True))
        split = TapBot(tap_url(running.url), await running.token("r", "split", hidden=True))
        try:
            await talker.connect(video=False, audio=Tone(LOUD, frequency=440))
            await ann.connect(publish=False)
            for bot in (mixed, split):
                await bot.connect()
                bot.read()
            await mixed.start(mode="mixed", sample_rate=16000, frame_ms=20)
            await split.start(mode="participants", sample_rate=48000, frame_ms=20)

            await split.wait_until(lambda: split.of_type("track_added"))
            added = split.of_type("track_added")[0]
            assert added["participant"] == "talker"
            assert added["track_id"] == talker.published_track("audio")
            index = added["index"]
            assert index != 0  # 0 is the mix
            await split.wait_until(lambda: len(split.pcm(index)) >= 2 * 48000)
            assert set(split.frames) == {index}  # per participant: no mix
            assert {len(f[2]) for f in split.frames[index]} == {2 * 960}  # 20 ms, 16 bits
            assert abs(peak_hz(split.pcm(index)[-48000:], 48000) - 440) <= 10

            await mixed.wait_until(lambda: len(mixed.pcm(0)) >= 2 * 16000)
            assert set(mixed.frames) == {0}
            assert {len(f[2]) for f in mixed.frames[0]} == {2 * 320}
            assert abs(peak_hz(mixed.pcm(0)[-16000:], 16000) - 440) <= 10
            started = mixed.of_type("started")[0]
            assert (started["sample_rate"], started["mode"], started["frame_ms"]) == (
                16000,
                "mixed",
                20,
            )
            # hidden: in no one's roster
            assert ann.participants == {"talker"}
            assert await metric(running.url, "sfu_taps_opened") == 2

            await talker.close()
            await split.wait_until(lambda: split.of_type("track_removed"))
            assert split.of_type("track_removed")[0]["index"] == index
            await split.wait_until(lambda: split.of_type("participant_left"))
        finally:
            for bot in (mixed, split):
                await bot.close()
            await ann.close()
            await talker.close()


async def test_a_tap_without_a_valid_token_or_the_subscribe_grant_is_refused() -> None:
    async with running_node() as running:
        url = tap_url(running.url)
        nobody = TapBot(url, "")
        forged = TapBot(url, (await running.token("r", "x", hidden=True))[:-4] + "AAAA")
        deaf = TapBot(url, await running.token("r", "y", subscribe=False))
        for bot, code in ((nobody, 4401), (forged, 4401), (deaf, 4403)):
            await bot.connect()
            bot.read()
            await bot.wait_until(lambda b=bot: b.close_code is not None)
            assert bot.close_code == code, bot.close_reason
        assert not running.node.rooms  # nobody got in


async def test_a_bad_start_gets_an_error_and_the_connection_stays() -> None:
    async with running_node() as running:
        bot = TapBot(tap_url(running.url), await running.token("r", "bot", hidden=True))
        await bot.connect()
        bot.read()
        try:
            await bot.start(sample_rate=44100)
            await bot._ws.send("not json")
            await bot.wait_until(lambda: len(bot.of_type("error")) == 2)
            assert "sample_rate" in bot.of_type("error")[0]["message"]
            assert bot.close_code is None
            await bot.start(mode="mixed", sample_rate=16000)
            await bot.wait_until(lambda: len(bot.pcm(0)) >= 1600)  # silence: nobody speaks
            assert not bot.pcm(0).any()
            await bot.start()
            await bot.wait_until(lambda: len(bot.of_type("error")) == 3)
            assert bot.of_type("error")[2]["code"] == "bad_state"
        finally:
            await bot.close()


async def test_a_bot_that_stops_reading_loses_frames_and_is_cut_off_the_call_loses_none() -> None:
    async with running_node(tap_backlog_frames=10, tap_stall_s=2) as running:
        talker = Client(running.url, "r", await running.token("r", "talker"))
        ann = Client(running.url, "r", await running.token("r", "ann"))
        bot = TapBot(tap_url(running.url), await running.token("r", "bot", hidden=True))
        # a small receive window: the node's writes block soon after the bot stops reading
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(running.url.split(":")[2].split("/")[0])))
        try:
            await talker.connect(video=False, audio=Tone(LOUD, frequency=440))
            await ann.connect(publish=False)
            await bot.connect(sock=sock, max_queue=1)
            await bot.start(mode="participants", sample_rate=48000)  # and never reads
            await ann.wait_until(lambda: ann.frames["talker"]["audio"] > 10)
            # the stall bound counts from when the node's writes block: after the kernel's
            # socket buffers (megabytes on loopback) are full
            deadline = time.monotonic() + 90
            while running.node.taps.cut_off == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert running.node.taps.dropped > 0
            assert running.node.taps.cut_off == 1
            assert await metric(running.url, "sfu_tap_dropped_frames") > 0
            assert await metric(running.url, "sfu_taps_cut_off") == 1
            before = ann.frames["talker"]["audio"]
            await ann.wait_until(lambda: ann.frames["talker"]["audio"] > before + 25)
            assert "bot" not in running.node.rooms["r"].members
            # the call did not notice: nothing lost, and no more jitter than a 20 ms frame
            report = await ann.subscribe_pc.getStats()
            inbound = [s for s in report.values() if s.type == "inbound-rtp" and s.kind == "audio"]
            assert len(inbound) == 1 and inbound[0].packetsReceived > 100
            assert inbound[0].packetsLost == 0
            assert inbound[0].jitter < 960  # RTP units: 48 kHz
        finally:
            await bot.close()
            await ann.close()
            await talker.close()


async def test_a_bot_speaks_and_the_room_hears_it_like_anyone_else() -> None:
    """A visible bot sends 3 s of a 1 kHz tone at once; the node plays it out as its microphone:
    an aiortc participant decodes it, a listening tap finds the tone, and it becomes a speaker."""
    async with running_node() as running:
        ann = Client(running.url, "r", await running.token("r", "ann"))
        agent = TapBot(tap_url(running.url), await running.token("r", "agent"))
        listener = TapBot(tap_url(running.url), await running.token("r", "ear", hidden=True))
        try:
            await ann.connect(publish=False)
            for bot in (agent, listener):
                await bot.connect()
                bot.read()
            await listener.start(mode="participants", sample_rate=48000)
            await agent.start(mode="mixed", sample_rate=16000, speak=True)
            await agent.wait_until(lambda: agent.of_type("speaking"))
            await ann.wait_until(lambda: "agent" in ann.participants)
            await agent.speak(sine(1000, 16000, 3.0), 16000)

            await listener.wait_until(lambda: listener.of_type("track_added"))
            added = listener.of_type("track_added")[0]
            assert (added["participant"], added["source"]) == ("agent", "microphone")
            assert added["track_id"] == agent.of_type("speaking")[0]["track_id"]
            index = added["index"]
            await listener.wait_until(lambda: len(listener.pcm(index)) >= 48000)
            assert abs(peak_hz(listener.pcm(index)[-48000:], 48000) - 1000) <= 10
            await ann.wait_until(lambda: ann.frames["agent"]["audio"] > 50)
            await listener.wait_until(
                lambda: any(
                    s["participant"] == "agent"
                    for e in listener.of_type("speakers")
                    for s in e["speakers"]
                )
            )
            assert not agent.of_type("track_added")  # a bot does not hear itself
            assert not agent.of_type("error")
            assert await metric(running.url, "sfu_tap_voice_packets") > 50
        finally:
            for bot in (agent, listener):
                await bot.close()
            await ann.close()


async def test_bad_audio_from_a_bot_gets_errors_and_the_connection_stays() -> None:
    async with running_node() as running:
        hidden = TapBot(tap_url(running.url), await running.token("r", "ghost", hidden=True))
        agent = TapBot(tap_url(running.url), await running.token("r", "agent"))
        try:
            for bot in (hidden, agent):
                await bot.connect()
                bot.read()
            await hidden.start(speak=True)  # a hidden member publishes nothing
            await hidden.wait_until(lambda: hidden.of_type("error"))
            assert hidden.of_type("error")[0]["code"] == "not_allowed"
            await hidden.speak(sine(440, 16000, 0.02), 16000)
            await hidden.wait_until(lambda: len(hidden.of_type("error")) == 2)
            assert hidden.of_type("error")[1]["code"] == "bad_state"

            await agent.start(sample_rate=16000, frame_ms=20, speak=True)
            await agent.wait_until(lambda: agent.of_type("speaking"))
            await agent.speak(sine(440, 48000, 0.02), 48000)  # 48 kHz on a 16 kHz tap
            await agent._ws.send(b"\x01")  # shorter than a header
            await agent.wait_until(lambda: len(agent.of_type("error")) == 2)
            errors = agent.of_type("error")
            assert [e["code"] for e in errors] == ["bad_frame", "bad_frame"]
            assert "640 bytes" in errors[0]["message"]

            # 40 s at once: 30 s wait to be played, the rest is dropped, with one error
            await agent.speak(sine(440, 16000, 40.0), 16000)
            await agent.wait_until(lambda: len(agent.of_type("error")) == 3)
            assert agent.of_type("error")[2]["code"] == "overflow"
            dropped = running.node.taps.voice_dropped
            assert dropped >= 400
            assert await metric(running.url, "sfu_tap_voice_dropped_frames") == dropped
            # clear drops what waits (the node reads in order): the next frame is queued, and
            # the bad one after it is the only error
            await agent._ws.send('{"type": "clear"}')
            await agent.speak(sine(440, 16000, 0.02), 16000)
            await agent._ws.send(b"\x01")
            await agent.wait_until(lambda: len(agent.of_type("error")) == 4)
            assert agent.of_type("error")[3]["code"] == "bad_frame"
            assert running.node.taps.voice_dropped == dropped
            assert agent.close_code is None and hidden.close_code is None
        finally:
            for bot in (hidden, agent):
                await bot.close()


def doc_bot() -> str:
    """The ten-line bot of docs/tap.md, as written there."""
    text = (Path(__file__).parents[2] / "docs" / "tap.md").read_text()
    return text.split("## A bot in ten lines", 1)[1].split("```python\n", 1)[1].split("```")[0]


async def test_the_bot_of_the_docs_prints_levels_and_answers_a_speaker_with_a_tone() -> None:
    async with running_node() as running:
        talker = Client(running.url, "r", await running.token("r", "talker"))
        ann = Client(running.url, "r", await running.token("r", "ann"))
        token = await running.token("r", "agent")
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-c", doc_bot(), tap_url(running.url), token,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await ann.connect(publish=False)
            await talker.connect(video=False, audio=Tone(LOUD, frequency=440))
            await ann.wait_until(lambda: ann.frames["agent"]["audio"] > 50)
            assert bot.stdout is not None
            lines = [(await bot.stdout.readline()).decode() for _ in range(100)]
            assert json.loads(lines[0])["type"] == "started"
            levels = [float(line.split()[0]) for line in lines if line.endswith("dBFS\n")]
            assert max(levels) > -20  # the talker's tone, at about -10 dBFS
        finally:
            bot.kill()
            await bot.wait()
            await ann.close()
            await talker.close()
