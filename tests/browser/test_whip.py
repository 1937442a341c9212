"""WHIP from a client nobody here wrote: Medooze's `whip-whep` (from the npm registry, installed
by `make test`), on a page of another origin than the stack's, publishes Chromium's fake camera
and microphone to the node; a web-client participant in the room decodes the video and hears the
audio; the client's stop() (DELETE) makes the publisher leave the room."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Browser

from tests.browser.harness import NO_CAMERA_JS, JoinFactory, Stack, demo_ticket
from tests.browser.pages import client_page, page_server

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# The publisher's page: the library's own API, as its README shows it, on all of the page's
# devices; `publish` resolves to the resource URL the node gave.
PAGE = """<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>WHIP publisher</title>
<script type="module">
import { WHIPClient } from "./whip.js";
window.publish = async (url, token) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  window.whip = new WHIPClient();
  await window.whip.publish(pc, url, token);
  return window.whip.resourceURL.href;
};
</script>
"""
PUBLISHER_GONE_JS = "() => !document.querySelector('.tile.remote[data-identity=\"whipcam\"]')"


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The publisher's page and the client library, on a server of its own."""
    with page_server(tmp_path_factory.mktemp("whip-page"), PAGE, "whip.js") as origin:
        yield origin


async def test_a_whip_client_in_chromium_publishes_to_a_participant(
    chromium: Browser, stack: Stack, participants: JoinFactory, room: str, page_origin: str
) -> None:
    viewer = await participants(room, "viewer", init_script=NO_CAMERA_JS)
    _, token = await demo_ticket(stack, room, "whipcam")
    endpoint = f"{stack.base_url}/node/v1/whip"
    async with client_page(chromium, page_origin, "publish") as page:
        resource = await page.evaluate(
            "([url, token]) => window.publish(url, token)", [endpoint, token]
        )
        assert resource.startswith(f"{endpoint}/")
        first = await viewer.wait_receiving(["whipcam"])
        later = await viewer.wait_receiving(["whipcam"], before=first)  # decoding goes on
        video = later["remotes"]["whipcam"]["video"]
        print(f"\nWHIP from whip-whep: {video['codec']} {video['frameWidth']}px decoded")
        assert stack.metric("sfu_whip_sessions") == 1
        await page.evaluate("window.whip.stop()")
        await viewer.wait_for(PUBLISHER_GONE_JS)
        assert stack.metric("sfu_whip_sessions") == 0
