"""Screen share in Chromium (headless `getDisplayMedia`: a fake 1280x720 monitor, accepted by
--use-fake-ui-for-media-stream): one participant shares its screen while on camera through the
page's button; the others decode both tracks by source, the screen in its own pinned tile at full
resolution; stopping the share removes that tile everywhere."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser.harness import JoinFactory, Participant, Stack, join
from tests.support.keys import TEST_KEY_ID, TEST_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

LARGE = (1600, 1000)
SCREEN_JS = """
async ({peer, width}) => {
  const remote = (await window.sfu.stats()).remotes[peer];
  return remote?.screen?.framesDecoded > 10 && remote.screen.frameWidth >= width
    && remote.video?.framesDecoded > 0 && remote;
}
"""
PRESSED_JS = "(pressed) => document.querySelector('#share-screen').ariaPressed === pressed"
SCREEN_TILE = '.tile.remote[data-source="screen"][data-identity="{}"]'


async def _screen_tile(person: Participant, identity: str) -> dict[str, object] | None:
    selector = SCREEN_TILE.format(identity)
    return await person.page.evaluate(  # type: ignore[no-any-return]
        """(selector) => {
          const tile = document.querySelector(selector);
          return tile && {pinned: tile.classList.contains('pinned'),
                          name: tile.querySelector('.name').textContent};
        }""",
        selector,
    )


async def test_a_shared_screen_reaches_everyone_by_source_and_stopping_removes_it(
    participants: JoinFactory, room: str
) -> None:
    ann = await participants(room, "ann")
    ben = await participants(room, "ben", viewport=LARGE)
    cat = await participants(room, "cat", viewport=LARGE)
    for person, others in ((ben, ["ann", "cat"]), (cat, ["ann", "ben"])):
        await person.wait_receiving(others)

    await ann.page.click("#share-screen")
    await ann.wait_for(PRESSED_JS, "true")  # once the browser gave the page its screen
    for viewer in (ben, cat):
        seen = await viewer.wait_for(SCREEN_JS, {"peer": "ann", "width": 1280})
        screen, camera = seen["screen"], seen["video"]
        print(
            f"\n{viewer.identity}: ann's screen {screen['frameWidth']}x{screen['frameHeight']}, "
            f"camera {camera['frameWidth']}x{camera['frameHeight']}"
        )
        assert screen["trackId"] != camera["trackId"]
        assert await _screen_tile(viewer, "ann") == {"pinned": True, "name": "ann (screen)"}

    await ann.page.click("#share-screen")
    stopped = time.monotonic()
    at_stop = await ben.stats()
    await ann.wait_for(PRESSED_JS, "false")
    for viewer in (ben, cat):
        await viewer.wait_for(
            "(selector) => !document.querySelector(selector)", SCREEN_TILE.format("ann"), 2000
        )
    print(f"the screen's tile was gone everywhere {time.monotonic() - stopped:.2f} s after stop")
    await ben.wait_receiving(["ann"], before=at_stop)  # the camera goes on
    for person in (ann, ben, cat):
        assert not person.page_errors(), person.page_errors()


async def test_a_rest_grant_change_stops_a_pages_screen_share(chromium: Browser, room: str) -> None:
    stack = Stack.start(env={"SFU_API_KEYS": f"{TEST_KEY_ID}:{TEST_SECRET}"})
    people = []
    try:
        people.append(ann := await join(chromium, stack.base_url, room, "ann"))
        people.append(ben := await join(chromium, stack.base_url, room, "ben", viewport=LARGE))
        await ann.page.click("#share-screen")
        await ben.wait_for(SCREEN_JS, {"peer": "ann", "width": 1280})
        async with httpx.AsyncClient(base_url=stack.base_url) as api:
            response = await api.put(
                f"/v1/rooms/{room}/participants/ann/grants",
                json={"sources": ["camera", "microphone"]},
                auth=(TEST_KEY_ID, TEST_SECRET),
            )
        assert response.status_code == 200, response.text
        await ann.wait_for(PRESSED_JS, "false")  # its page stopped sharing, and says why
        assert "stopped your screen share" in await ann.page.inner_text("#notice")
        await ben.wait_for(
            "(selector) => !document.querySelector(selector)", SCREEN_TILE.format("ann"), 2000
        )
        await ann.page.click("#share-screen")  # sharing again is refused
        await ann.wait_for("() => window.sfu.errors.some((e) => e.code === 'not_allowed')")
        for person in people:
            assert not person.page_errors(), person.page_errors()
    finally:
        for person in people:
            await person.close()
        stack.stop()
