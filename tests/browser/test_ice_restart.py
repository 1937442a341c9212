"""A network change under a call: the path between two Chromium pages and the node goes down (a
relay in front of the node forwards nothing), then comes back on new ports (the relay rebinds and
never forwards the old ones again, as a NAT that forgot its mappings). The pages notice, restart
ICE on the same peer connections, and the call goes on: nobody leaves, no page rejoins, the
tiles stay, and video flows again within 3 s of the path's return."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser

from tests.browser.harness import Participant, Stack, join
from tests.support.ports import free_udp_port
from tests.support.relay import relay

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

RESUME_WITHIN_MS = 3_000
DOWN_S = 10.0  # longer than Chrome takes to call the path disconnected, plus the 2 s grace
WATCH_S = 8.0  # after the path is back: long enough for a rejoin to show if one happened
# Counts the page's signaling sockets and the participant_left frames they bring: a rejoin opens
# a second socket; a participant that dropped out is announced to the others.
WATCH_SIGNALING_JS = """
window.signaling = {sockets: 0, left: []};
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    window.signaling.sockets += 1;
    this.addEventListener('message', (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'participant_left') window.signaling.left.push(message.identity);
    });
  }
};
"""
FRAME_LOG_JS = """
(peer) => {
  const video = document.querySelector(`.tile.remote[data-identity="${CSS.escape(peer)}"] video`);
  const log = window.presented = [];
  const onFrame = () => { log.push(performance.now()); video.requestVideoFrameCallback(onFrame); };
  video.requestVideoFrameCallback(onFrame);
}
"""


@contextlib.contextmanager
def _stack(port: int) -> Iterator[Stack]:
    """The node binds 127.0.0.1 and announces 127.0.0.2, where the relay listens."""
    stack = Stack.start(env={"SFU_ICE_HOST_ADDRESSES": "127.0.0.2", "SFU_UDP_PORT": str(port)})
    try:
        yield stack
    finally:
        stack.stop()


async def _resumed_ms(page: Participant, since_ms: float) -> float | None:
    """How long after ``since_ms`` (page time) the first frame was shown, None if none was or
    frames stopped again (none in the last 0.5 s)."""
    times: list[float] = await page.page.evaluate("window.presented")
    now: float = await page.page.evaluate("performance.now()")
    after = [t for t in times if t >= since_ms]
    if not after or now - after[-1] > 500:
        return None
    return after[0] - since_ms


async def test_a_path_change_restarts_ice_and_the_call_goes_on(
    chromium: Browser, room: str
) -> None:
    port = free_udp_port()
    with _stack(port) as stack:
        async with relay(("127.0.0.2", port), ("127.0.0.1", port)) as nat:
            pages = [
                await join(chromium, stack.base_url, room, name, init_script=WATCH_SIGNALING_JS)
                for name in ("ada", "bob")
            ]
            try:
                ada, bob = pages
                await asyncio.gather(ada.wait_receiving(["bob"]), bob.wait_receiving(["ada"]))
                await ada.page.evaluate(FRAME_LOG_JS, "bob")
                await bob.page.evaluate(FRAME_LOG_JS, "ada")
                await asyncio.sleep(1.0)
                log_from = stack.log_size()
                nat.blocked = True
                await asyncio.sleep(DOWN_S)
                await nat.rebind()
                back = [await p.page.evaluate("performance.now()") for p in pages]
                nat.blocked = False
                await asyncio.sleep(WATCH_S)
                resumed = [await _resumed_ms(p, at) for p, at in zip(pages, back, strict=True)]
                watched = [await p.page.evaluate("window.signaling") for p in pages]
                restarts = stack.log(log_from).count("ICE-lite transport restarted")
                print(
                    f"\npath down {DOWN_S:g} s, back on new ports: video again after "
                    f"{resumed} ms; {restarts} ICE restarts; {watched}"
                )
                assert restarts >= 4  # both connections of both pages, on the same peers
                assert watched == [{"sockets": 1, "left": []}] * 2  # nobody left or rejoined
                assert all(r is not None and r <= RESUME_WITHIN_MS for r in resumed)
                assert await ada.remote_tiles() == ["bob"] and await bob.remote_tiles() == ["ada"]
                assert not any(p.page_errors() for p in pages)
            finally:
                for page in pages:
                    await page.close()
