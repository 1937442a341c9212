"""The audio tap with a real browser: a Chromium participant's microphone (an oscillator in place
of the fake device, so its pitch is known) reaches a bot on /v1/tap as PCM at that pitch, and the
1 kHz tone the bot sends back is heard by the page, through the one-process stack."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.browser.harness import TONE_MIC_JS, JoinFactory, Stack, demo_ticket
from tests.support.tapbot import TapBot, peak_hz, sine, tap_url

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

RATE = 16000
LOUD = 1000  # 16-bit samples: the tone's are ~9,800, silence's 0
# Resolves to (page time, audioLevel) once the page's audio from `peer` is louder than `level`.
LEVEL_ABOVE_JS = """
async ({peer, level}) => {
  const audio = (await window.sfu.stats()).remotes[peer]?.audio;
  return audio && audio.audioLevel > level ? [Date.now(), audio.audioLevel] : null;
}
"""
# Watches what the page plays of `peer` (Web Audio, every 2 ms): window.onset is the time
# (Date.now()) its samples first pass 0.05 of full scale.
WATCH_ONSET_JS = """
(peer) => {
  const audio = document.querySelector(`.tile[data-identity="${peer}"] audio`);
  const context = new AudioContext();
  const analyser = new AnalyserNode(context, {fftSize: 256});
  context.createMediaStreamSource(audio.srcObject).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  window.onset = null;
  setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    if (window.onset === null && samples.some((v) => Math.abs(v) > 0.05)) window.onset = Date.now();
  }, 2);
}
"""


def loud_since(bot: TapBot, index: int, after_ms: float) -> float | None:
    """When (bot's wall clock, ms) the first loud frame of track `index` after `after_ms` came."""
    for _, received_ms, pcm in bot.frames[index]:
        if received_ms > after_ms and np.abs(np.frombuffer(pcm, "<i2")).max() > LOUD:
            return received_ms
    return None


async def test_a_bot_hears_a_chromium_speaker_and_the_page_hears_the_bot(
    participants: JoinFactory, stack: Stack, room: str
) -> None:
    alice = await participants(room, "alice", init_script=TONE_MIC_JS)
    url, token = await demo_ticket(stack, room, "agent")
    bot = TapBot(tap_url(url), token)
    await bot.connect()
    bot.read()
    try:
        await bot.start(mode="participants", sample_rate=RATE, frame_ms=20, speak=True)
        await bot.wait_until(lambda: bot.of_type("track_added"))
        added = bot.of_type("track_added")[0]
        assert (added["participant"], added["source"]) == ("alice", "microphone")
        index = added["index"]
        await bot.wait_until(lambda: len(bot.pcm(index)) >= 2 * RATE)
        assert abs(peak_hz(bot.pcm(index)[-RATE:], RATE) - 440) <= 10

        # speech onset at the page -> first loud PCM at the bot
        await alice.page.evaluate("window.tone.gain.value = 0")
        await bot.wait_until(lambda: not bot.pcm(index)[-RATE // 10 :].any())
        quiet_from = time.time() * 1000
        onset_ms = await alice.page.evaluate("window.tone.gain.value = 0.3, Date.now()")
        await bot.wait_until(lambda: loud_since(bot, index, quiet_from) is not None)
        heard_ms = loud_since(bot, index, quiet_from)
        assert heard_ms is not None

        # the bot answers: its tone reaches the page's audio from it, with energy
        await alice.wait_for(
            "() => document.querySelector('.tile[data-identity=\"agent\"] audio')?.srcObject"
        )
        await alice.page.evaluate(WATCH_ONSET_JS, "agent")
        sent_ms = time.time() * 1000
        await bot.speak(sine(1000, RATE, 8.0), RATE)
        played_ms = await alice.wait_for("() => window.onset")
        _, level = await alice.wait_for(LEVEL_ABOVE_JS, {"peer": "agent", "level": 0.05})
        stats = await alice.hears("agent")
        agent = stats["remotes"]["agent"]["audio"]
        assert agent["totalAudioEnergy"] > 0 and level > 0.05
        assert not bot.of_type("error")
        assert not alice.page_errors()
        # reported, not asserted (the note's figures)
        print(
            f"tap latency: page->bot {heard_ms - onset_ms:.0f} ms, "
            f"bot->page {played_ms - sent_ms:.0f} ms"
        )
    finally:
        await bot.close()
