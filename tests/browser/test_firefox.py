"""Firefox ESR in calls with Chromium, through the same node and web client: each decodes the
other, Firefox's simulcast layers reach Chromium viewers by their tile sizes, and a Firefox
participant that leaves is gone from Chromium's page. Driven over WebDriver BiDi (firefox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.browser.firefox import Firefox, ensure_default_route, firefox
from tests.browser.harness import (
    H264_ONLY_JS,
    NO_CAMERA_JS,
    RECEIVING_FROM_JS,
    JoinFactory,
    Stack,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Viewer viewports: a small tile, a large one. The small page is wider than a phone's: below
# 640 px the dominant speaker (Firefox's fake microphone is a steady tone) gets a full-width tile.
SMALL, LARGE = (700, 270), (1600, 1000)
TRANSPORT_CC_JS = """
async () => {
  const downlink = (await window.sfu.stats()).downlink;
  return downlink?.source === 'transport-cc' && downlink;
}
"""
WIDTH_AT_LEAST = "(video, width) => video.frameWidth >= width"
WIDTH_AT_MOST = "(video, width) => video.frameWidth > 0 && video.frameWidth <= width"


@pytest_asyncio.fixture(loop_scope="session")
async def fox() -> AsyncIterator[Firefox]:
    ensure_default_route()
    async with firefox() as browser:
        yield browser


async def test_firefox_and_chromium_decode_each_other(
    participants: JoinFactory, fox: Firefox, stack: Stack, room: str
) -> None:
    chrome = await participants(room, "chrome")
    ff = await fox.join(stack.base_url, room, "fox")
    seen_by_fox = await ff.wait_for(RECEIVING_FROM_JS, {"peers": ["chrome"], "before": None})
    seen_by_chrome = await chrome.wait_receiving(["fox"])
    fox_video = seen_by_fox["remotes"]["chrome"]["video"]
    chrome_video = seen_by_chrome["remotes"]["fox"]["video"]
    print(
        f"\nFirefox decodes Chromium at {fox_video['frameWidth']}x{fox_video['frameHeight']}, "
        f"Chromium decodes Firefox at {chrome_video['frameWidth']}x{chrome_video['frameHeight']}"
    )
    assert fox_video["framesDecoded"] > 0 and chrome_video["framesDecoded"] > 0
    # Firefox's transport-cc feedback drives the node's estimate of its downlink, as Chrome's does
    downlink = await ff.wait_for(TRANSPORT_CC_JS)
    assert downlink["bps"] > 0
    assert not chrome.page_errors()
    assert not [line for line in ff.console if line.startswith("error")], ff.console


async def test_firefox_simulcast_reaches_each_viewer_by_its_tile(
    participants: JoinFactory, fox: Firefox, stack: Stack, room: str
) -> None:
    """Firefox publishes three encodings; a small tile gets a smaller one than a large tile."""
    await fox.join(stack.base_url, room, "fox")
    small = await participants(room, "small", init_script=NO_CAMERA_JS, viewport=SMALL)
    large = await participants(room, "large", init_script=NO_CAMERA_JS, viewport=LARGE)
    big = await large.wait_video("fox", WIDTH_AT_LEAST, 640)
    little = await small.wait_video("fox", WIDTH_AT_MOST, 320)
    print(f"\nFirefox simulcast: large tile {big['frameWidth']}, small tile {little['frameWidth']}")
    assert little["frameWidth"] < big["frameWidth"]
    assert big["layer"]["rid"] != little["layer"]["rid"]


async def test_a_firefox_participant_that_leaves_is_gone_for_chromium(
    participants: JoinFactory, fox: Firefox, stack: Stack, room: str
) -> None:
    chrome = await participants(room, "chrome")
    ff = await fox.join(stack.base_url, room, "fox")
    await chrome.wait_receiving(["fox"])
    assert await chrome.remote_tiles() == ["fox"]
    await ff.evaluate("() => document.querySelector('#leave').click()")
    await ff.wait_for("() => window.sfu.state === 'left'")
    await chrome.wait_for("() => !document.querySelector('.tile.remote[data-identity=\"fox\"]')")
    assert await chrome.remote_tiles() == []


async def test_firefox_without_h264_is_told_and_still_hears_an_h264_publisher(
    participants: JoinFactory, fox: Firefox, stack: Stack, room: str
) -> None:
    """Debian's Firefox ESR has no OpenH264 (nothing is downloaded here): its join declares the
    codecs it decodes, the node does not offer it the H.264 video (which would fail Firefox's
    whole answer) and says so, and everything else flows both ways."""
    h264 = await participants(room, "h264", init_script=H264_ONLY_JS)
    ff = await fox.join(stack.base_url, room, "fox")
    decoded = await ff.evaluate(
        "() => RTCRtpReceiver.getCapabilities('video').codecs.map((c) => c.mimeType)"
    )
    assert "video/H264" not in decoded, decoded
    told = await ff.wait_for("() => window.sfu.errors.find((e) => e.code === 'unsupported_codec')")
    assert "h264" in told["message"] and "H264" in told["message"] and told["track_id"]
    heard = await ff.wait_for(
        "async () => { const a = (await window.sfu.stats()).remotes.h264?.audio;"
        " return a?.packetsReceived > 50 && a.totalAudioEnergy > 0 && a; }"
    )
    assert heard["packetsReceived"] > 50
    seen_by_h264 = await h264.wait_receiving(["fox"])  # Firefox's VP8 reaches the H.264 page
    assert seen_by_h264["remotes"]["fox"]["video"]["codec"] == "video/VP8"
    stats = await ff.evaluate("async () => (await window.sfu.stats()).remotes.h264")
    assert stats["video"] is None, stats
