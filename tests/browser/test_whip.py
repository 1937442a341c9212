"""WHIP from a client nobody here wrote: Medooze's `whip-whep` (from the npm registry, installed
by `make test`), on a page of another origin than the stack's, publishes Chromium's fake camera
and microphone to the node; a web-client participant in the room decodes the video and hears the
audio; the client's stop() (DELETE) makes the publisher leave the room."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.browser.harness import NO_CAMERA_JS, JoinFactory, Stack, demo_ticket

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

WHIP_CLIENT = Path(sys.prefix) / "share" / "whip-whep" / "whip.js"  # see the Makefile

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


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The test's page server logs nothing."""


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A static server of its own (another origin than the stack's: WHIP must allow CORS)
    serving the publisher's page and the client library."""
    if not WHIP_CLIENT.exists():
        pytest.fail(f"{WHIP_CLIENT} is missing: run `make test` (it installs it)", pytrace=False)
    root = tmp_path_factory.mktemp("whip-page")
    (root / "index.html").write_text(PAGE)
    shutil.copy(WHIP_CLIENT, root / "whip.js")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_whip_client_in_chromium_publishes_to_a_participant(
    chromium: Browser, stack: Stack, participants: JoinFactory, room: str, page_origin: str
) -> None:
    viewer = await participants(room, "viewer", init_script=NO_CAMERA_JS)
    _, token = await demo_ticket(stack, room, "whipcam")
    endpoint = f"{stack.base_url}/node/v1/whip"
    context = await chromium.new_context()
    console: list[str] = []
    try:
        page = await context.new_page()
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        await page.goto(page_origin)
        await page.wait_for_function("() => typeof window.publish === 'function'")
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
        assert not [line for line in console if line.startswith(("pageerror", "error"))]
    except BaseException as err:
        err.add_note("console of the WHIP page:\n" + "\n".join(console))
        raise
    finally:
        with contextlib.suppress(Exception):
            await context.close()
