"""WHEP from a client nobody here wrote: Medooze's `whip-whep` WHEPClient (from the npm registry,
installed by `make test`), on a page of another origin than the stack's, offers recvonly audio
and video and plays the room before anyone publishes; a web-client participant then publishes
Chromium's fake camera and microphone, and the player's <video> decodes it and its audio plays,
with no renegotiation; stop() (DELETE) ends the session."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.browser.harness import JoinFactory, Stack, demo_ticket, wait_for
from tests.browser.pages import client_page, page_server

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# The player's page: the library's own API, as its README shows it; `play` resolves to the
# resource URL the node gave, `stats` reads the player's inbound streams.
PAGE = """<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>WHEP player</title>
<video id="player" autoplay muted playsinline></video>
<script type="module">
import { WHEPClient } from "./whep.js";
window.play = async (url, token) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (event) => stream.addTrack(event.track);
  document.getElementById("player").srcObject = stream;
  window.pc = pc;
  window.whep = new WHEPClient();
  await window.whep.view(pc, url, token);
  return window.whep.resourceURL.href;
};
window.stats = async () => {
  const found = { transceivers: window.pc.getTransceivers().length };
  (await window.pc.getStats()).forEach((report) => {
    if (report.type === "inbound-rtp") found[report.kind] = report;
  });
  return found;
};
</script>
"""
# Resolves to the player's stats once its video decoded more than `frames` frames and its
# audio more than `samples` samples, most of them from packets (not concealment).
PLAYING_JS = """async ([frames, samples]) => {
  const stats = await window.stats();
  const video = stats.video || {}, audio = stats.audio || {};
  const received = audio.totalSamplesReceived || 0;
  return (video.framesDecoded || 0) > frames && received > samples
    && (audio.concealedSamples || 0) < received / 2 ? stats : null;
}"""


STATE_JS = """async () => ({
  connection: window.pc.connectionState,
  answer: window.pc.remoteDescription?.sdp,
  stats: await window.stats(),
})"""


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The player's page and the client library, on a server of its own."""
    with page_server(tmp_path_factory.mktemp("whep-page"), PAGE, "whep.js") as origin:
        yield origin


async def playing(page: Page, frames: int, samples: int) -> dict[str, Any]:
    stats: dict[str, Any] = await wait_for(page, PLAYING_JS, [frames, samples])
    return stats


async def test_a_whep_client_in_chromium_plays_a_room_published_after_it_connected(
    chromium: Browser, stack: Stack, participants: JoinFactory, room: str, page_origin: str
) -> None:
    _, token = await demo_ticket(stack, room, "whepview")
    endpoint = f"{stack.base_url}/node/v1/whep"
    async with client_page(chromium, page_origin, "play") as page:
        try:
            resource = await page.evaluate(
                "([url, token]) => window.play(url, token)", [endpoint, token]
            )
            assert resource.startswith(f"{endpoint}/")
            assert stack.metric("sfu_whep_sessions") == 1

            camera = await participants(room, "camera")  # publishes after the player connected
            first = await playing(page, 30, 48_000)
            later = await playing(
                page, first["video"]["framesDecoded"], first["audio"]["totalSamplesReceived"]
            )  # decoding goes on
        except BaseException as err:
            with contextlib.suppress(Exception):
                err.add_note(f"the player's state: {await page.evaluate(STATE_JS)}")
            raise
        video = later["video"]
        print(f"\nWHEP to whip-whep: {video['frameWidth']}x{video['frameHeight']} decoded")
        assert later["transceivers"] == 2  # the offer's m-lines: no renegotiation
        assert "whepview" not in await camera.page.evaluate(
            "() => [...document.querySelectorAll('.tile')].map(t => t.dataset.identity)"
        )  # a hidden member

        await page.evaluate("window.whep.stop()")  # resolves once the DELETE is answered
        assert stack.metric("sfu_whep_sessions") == 0
