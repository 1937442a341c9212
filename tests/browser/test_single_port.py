"""A Chromium conference on the node's one UDP port (SFU_UDP_PORT: ICE-lite, DTLS passive)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser

from tests.browser.harness import Participant, Stack, join
from tests.browser.test_conference import assert_all_receive_all
from tests.support.ports import free_udp_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
def lite_stack() -> Iterator[Stack]:
    stack = Stack.start(env={"SFU_UDP_PORT": str(free_udp_port()), "SFU_UDP_BIND": "127.0.0.1"})
    yield stack
    stack.stop()


async def _transports_become(stack: Stack, count: int, timeout_s: float = 5.0) -> float:
    deadline = time.monotonic() + timeout_s
    while (value := await asyncio.to_thread(stack.metric, "sfu_udp_transports")) != count:
        assert time.monotonic() < deadline, f"{value} transports on the port, not {count}"
        await asyncio.sleep(0.2)
    return value


async def test_three_chromium_participants_share_the_one_port(
    chromium: Browser, lite_stack: Stack
) -> None:
    people: list[Participant] = []
    try:
        people = list(
            await asyncio.gather(
                *(join(chromium, lite_stack.base_url, "lite", n) for n in ("ada", "bob", "cyd"))
            )
        )
        await assert_all_receive_all(people)
        await _transports_become(lite_stack, 6)  # two peer connections each, one socket
        assert await asyncio.to_thread(lite_stack.metric, "sfu_udp_stun_answered_total") >= 6
        await people[0].leave()
        await _transports_become(lite_stack, 4)  # the leaver's transports are gone
        await assert_all_receive_all(people[1:])
    finally:
        for person in people:
            await person.close()
