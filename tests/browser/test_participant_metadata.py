"""Participant metadata in Chromium pages: a REST change of a participant's name and metadata
reaches the other page, whose tile label shows the new name and whose `window.sfu` has both."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser.harness import Stack, join
from tests.support.keys import TEST_KEY_ID, TEST_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

LABEL_JS = """(identity) =>
  document.querySelector(`.tile[data-identity="${identity}"] .name`)?.textContent"""


async def test_a_rest_name_change_updates_the_tile_on_another_page(
    chromium: Browser, room: str
) -> None:
    stack = Stack.start(env={"SFU_API_KEYS": f"{TEST_KEY_ID}:{TEST_SECRET}"})
    people = []
    try:
        people.append(ann := await join(chromium, stack.base_url, room, "ann"))
        people.append(ben := await join(chromium, stack.base_url, room, "ben"))
        await ben.wait_for(f"(id) => ({LABEL_JS})(id) === 'ann'", "ann")
        async with httpx.AsyncClient(base_url=stack.base_url) as api:
            response = await api.patch(
                f"/v1/rooms/{room}/participants/ann",
                json={"name": "Ann Lee", "metadata": '{"seat": 4}'},
                auth=(TEST_KEY_ID, TEST_SECRET),
            )
        assert response.status_code == 200, response.text
        await ben.wait_for(f"(id) => ({LABEL_JS})(id) === 'Ann Lee'", "ann")
        seen = await ben.page.evaluate("() => window.sfu.participants()")
        assert {
            "identity": "ann",
            "name": "Ann Lee",
            "metadata": '{"seat": 4}',
            "attributes": {},
        } in seen
        own = await ann.page.evaluate("() => window.sfu.participants()")
        assert any(p["identity"] == "ann" and p["name"] == "Ann Lee" for p in own)
        for person in people:
            assert not person.page_errors(), person.page_errors()
    finally:
        for person in people:
            await person.close()
        stack.stop()
