"""CPU an audio tap costs its node: decoding, resampling, mixing and encoding.

One node in this process; three aiortc participants speak (Opus, a tone each). A bot taps the
room for WINDOW_S in each configuration; the figure is the node's `sfu_tap_cpu_seconds` (thread
CPU time spent inside the taps' tickers, so the participants' own encoding is not counted) over
the window, as a share of one core. Run inside the loopback-only namespace (`make bench`).
"""

from __future__ import annotations

import asyncio

from tests.support.client import Client
from tests.support.node import running_node
from tests.support.tapbot import TapBot, sine, tap_url
from tests.support.tone import Tone

WINDOW_S = 15.0
TALKERS = 3
CONFIGURATIONS: list[tuple[str, dict[str, object]]] = [
    ("mixed, 16 kHz", {"mode": "mixed", "sample_rate": 16000}),
    ("per participant, 48 kHz", {"mode": "participants", "sample_rate": 48000}),
    ("mixed 16 kHz, and speaking", {"mode": "mixed", "sample_rate": 16000, "speak": True}),
]


async def measure() -> dict[str, float]:
    shares = {}
    async with running_node() as running:
        talkers = [
            Client(running.url, "bench", await running.token("bench", f"talker{n}"))
            for n in range(TALKERS)
        ]
        try:
            for n, talker in enumerate(talkers):
                await talker.connect(video=False, audio=Tone(0.3, frequency=300 + 100 * n))
            for name, start in CONFIGURATIONS:
                bot = TapBot(tap_url(running.url), await running.token("bench", "bot"))
                await bot.connect()
                bot.read()
                await bot.start(**start)
                if start.get("speak"):
                    await bot.wait_until(lambda b=bot: b.of_type("speaking"))
                    await bot.speak(sine(1000, 16000, WINDOW_S + 2), 16000)
                await asyncio.sleep(2)  # warm-up: PyAV loaded, decoders made
                before = running.node.taps.cpu_s
                await asyncio.sleep(WINDOW_S)
                shares[name] = (running.node.taps.cpu_s - before) / WINDOW_S
                await bot.close()
        finally:
            for talker in talkers:
                await talker.close()
    return shares


def main() -> None:
    shares = asyncio.run(measure())
    print(f"\naudio tap CPU, {TALKERS} speaking participants (share of one core):")
    for name, share in shares.items():
        print(f"  {name:<28} {100 * share:5.1f} %")


if __name__ == "__main__":
    main()
