"""Node CPU time per forwarded packet in a three-person browser call.

Three headless Chromium pages (fake camera 1280x720 with q/h/f simulcast, fake microphone) join
one room on the one-machine stack. After a warm-up, the stack process's CPU time (user + system,
from /proc) and its forwarded-packet counter (/node/metrics) are sampled over a window; the
figure is CPU time / packets forwarded. Beside it, the share of the datagrams sent that left in
segmented sends (UDP GSO): how often a browser's paced packets still reach a subscriber several
at a time. Run inside the loopback-only namespace (`make bench`).
"""

from __future__ import annotations

import asyncio
import os
import re
import urllib.request

from playwright.async_api import async_playwright

from tests.browser.harness import CHROME_FLAGS, CHROMIUM, Stack, join

WARM_UP_S = 8.0
WINDOW_S = 20.0
PEOPLE = ("ann", "ben", "cat")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


COUNTERS = (
    "sfu_packets_out_total",
    "sfu_packets_in_total",
    "sfu_udp_sent_total",  # datagrams the node's port sent
    "sfu_udp_coalesced_total",  # of which in segmented sends
)


def counters(base_url: str) -> list[float]:
    """COUNTERS now, from one read of /node/metrics."""
    with urllib.request.urlopen(f"{base_url}/node/metrics") as response:
        text = response.read().decode()
    values = []
    for name in COUNTERS:
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"{name} not in /node/metrics"
        values.append(float(match.group(1)))
    return values


async def measure() -> dict[str, float]:
    stack = Stack.start()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROME_FLAGS
            )
            people = [await join(browser, stack.base_url, "bench", name) for name in PEOPLE]
            for person in people:
                await person.wait_receiving([p.identity for p in people if p is not person])
            await asyncio.sleep(WARM_UP_S)
            # the counters are read outside the CPU window: answering them is not forwarding
            out0, in0, sent0, coalesced0 = counters(stack.base_url)
            cpu0 = cpu_seconds(stack.process.pid)
            await asyncio.sleep(WINDOW_S)
            cpu1 = cpu_seconds(stack.process.pid)
            out1, in1, sent1, coalesced1 = counters(stack.base_url)
            await browser.close()
    finally:
        stack.stop()
    forwarded = out1 - out0
    return {
        "window_s": WINDOW_S,
        "packets_in_per_s": (in1 - in0) / WINDOW_S,
        "packets_out_per_s": forwarded / WINDOW_S,
        "node_cpu_percent": 100 * (cpu1 - cpu0) / WINDOW_S,
        "cpu_us_per_forwarded_packet": 1e6 * (cpu1 - cpu0) / forwarded,
        "percent_sent_coalesced": 100 * (coalesced1 - coalesced0) / max(1.0, sent1 - sent0),
    }


def main() -> None:
    result = asyncio.run(measure())
    print("three-person browser call, one-machine stack:")
    for key, value in result.items():
        print(f"  {key:32s} {value:10.1f}")


if __name__ == "__main__":
    main()
