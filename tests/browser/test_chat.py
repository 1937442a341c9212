"""The web client's chat, and data messages the node refuses, between Chromium pages in a call."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser.harness import JoinFactory, Participant, Stack
from tests.browser.test_conference import assert_all_receive_all

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

FLOOD = 300
BURST = 50  # SFU_DATA_MESSAGE_BURST's default
ACCOUNTED_WITHIN_S = 20.0

# Truthy once the page's chat has a message of `from` with `text`, shown in its list.
CHAT_HAS_JS = """
({from, text}) => window.sfu.chatMessages.some((m) => m.from === from && m.text === text)
  && [...document.querySelectorAll('#chat-messages li')].some((li) =>
    li.querySelector('.from').textContent === from && li.textContent.includes(text))
"""
ERROR_JS = "(code) => window.sfu.errors.find((e) => e.code === code)"


async def chat_count(person: Participant) -> int:
    count: int = await person.page.evaluate("window.sfu.chatMessages.length")
    return count


async def test_a_message_typed_in_one_chat_appears_in_the_others(
    participants: JoinFactory, room: str
) -> None:
    ada, bob, cyd = await asyncio.gather(*(participants(room, n) for n in ("ada", "bob", "cyd")))
    await ada.page.click("#chat-toggle")
    assert await ada.page.get_attribute("#chat-toggle", "aria-expanded") == "true"
    field = ada.page.get_by_label("Message")  # the input has its label
    await field.fill("hello from ada")
    await field.press("Enter")
    assert await field.input_value() == ""
    for person in (bob, cyd):
        await person.wait_for(CHAT_HAS_JS, {"from": "ada", "text": "hello from ada"})
        assert await person.page.get_attribute("#chat-messages", "aria-live") == "polite"
        assert await person.page.text_content("#chat-toggle") == "Chat (1 new)"
    own = await ada.page.evaluate("window.sfu.chatMessages")
    assert [(m["from"], m["text"], m["own"]) for m in own] == [("ada", "hello from ada", True)]
    assert await ada.page.text_content("#chat-messages li .from") == "You"


async def test_refused_data_leaves_the_sender_in_the_call(
    participants: JoinFactory, stack: Stack, room: str
) -> None:
    """A 1 MiB message is refused with an error the page shows; a flood is cut at the rate
    limit and counted by the node; the sender stays, and its video keeps reaching the others."""
    ada, bob, cyd = await asyncio.gather(*(participants(room, n) for n in ("ada", "bob", "cyd")))
    await assert_all_receive_all([ada, bob, cyd])
    too_large = await asyncio.to_thread(stack.metric, 'sfu_data_dropped_total{reason="too_large"}')
    await ada.page.evaluate("window.sfu.sendData({payload: 'x'.repeat(1 << 20)})")
    error = await ada.wait_for(ERROR_JS, "too_large")
    assert error["message"].startswith("frame of 1048")
    assert "over the 65536-byte limit" in error["message"]
    assert "too_large" in (await ada.page.text_content("#notice") or "")
    after = await asyncio.to_thread(stack.metric, 'sfu_data_dropped_total{reason="too_large"}')
    assert after == too_large + 1

    limited = 'sfu_data_dropped_total{reason="rate_limited"}'
    refused_before = await asyncio.to_thread(stack.metric, limited)
    flowing = await asyncio.gather(bob.wait_receiving(["ada"]), cyd.wait_receiving(["ada"]))
    await ada.page.evaluate(
        "(n) => { for (let i = 0; i < n; i++) window.sfu.chat(`flood ${i}`); }", FLOOD
    )
    await ada.wait_for(ERROR_JS, "rate_limited")
    deadline = time.monotonic() + ACCOUNTED_WITHIN_S
    while True:  # every message of the flood either reached bob or was refused and counted
        refused = await asyncio.to_thread(stack.metric, limited) - refused_before
        delivered = await chat_count(bob)
        if refused + delivered == FLOOD:
            break
        assert time.monotonic() < deadline, (refused, delivered)
        await asyncio.sleep(0.2)
    assert BURST <= delivered < FLOOD - 100
    await asyncio.gather(
        bob.wait_receiving(["ada"], before=flowing[0]),
        cyd.wait_receiving(["ada"], before=flowing[1]),
    )
    assert await ada.page.evaluate("window.sfu.state") == "joined"
    await cyd.wait_for("(n) => window.sfu.chatMessages.length === n", delivered)
