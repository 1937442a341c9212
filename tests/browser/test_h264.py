"""H.264 through the node, untouched: Chromium pages whose camera may only be encoded as H.264
(as Safari's hardware encoder, OBS or FFmpeg send) decode each other with simulcast and layer
switches at IDR frames; a VP8 page and an H.264 page in one room each decode the other's codec;
an aiortc publisher encoding with PyAV's libx264 reaches a Chromium viewer."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser

from sfu.webrtc.stack import configure_aiortc
from tests.browser.harness import (
    CODEC_IS,
    H264_ONLY_JS,
    NO_CAMERA_JS,
    JoinFactory,
    Stack,
    aiortc_client,
    join,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

WIDTH_IS = "(video, width) => video.frameWidth === width && video.codec"
LARGE, SMALL = (1600, 1000), (480, 270)
UPGRADE_MS = 30_000


@pytest.fixture(scope="module", autouse=True)
def _loopback_ice() -> None:
    configure_aiortc(["127.0.0.1"])


async def test_h264_pages_decode_each_other_with_simulcast(
    participants: JoinFactory, room: str
) -> None:
    ann = await participants(room, "ann", init_script=H264_ONLY_JS)
    ben = await participants(room, "ben", init_script=H264_ONLY_JS)
    for person, other in ((ann, "ben"), (ben, "ann")):
        video = await person.wait_video(other, CODEC_IS, "video/H264")
        assert video["frameWidth"] > 0
    # simulcast: a large tile gets f, which takes a switch at one of its IDR frames; a small
    # tile gets q
    large = await participants(room, "large", init_script=NO_CAMERA_JS, viewport=LARGE)
    small = await participants(room, "small", init_script=NO_CAMERA_JS, viewport=SMALL)
    big = await large.wait_video("ann", WIDTH_IS, 1280, timeout_ms=UPGRADE_MS)
    little = await small.wait_video("ann", WIDTH_IS, 320, timeout_ms=UPGRADE_MS)
    print(f"\nH.264 simulcast: {big['layer']} at {big['frameWidth']}, {little['layer']} at 320")
    assert big["codec"] == little["codec"] == "video/H264"
    assert big["layer"]["rid"] == "f" and little["layer"]["rid"] == "q"
    await asyncio.sleep(1.0)  # f goes on after the switch (freezes here are the machine's load:
    after = await large.video_from("ann")  # four pages, two software H.264 simulcast encoders)
    assert after["framesDecoded"] > big["framesDecoded"] and after["frameWidth"] == 1280
    for person in (ann, ben, large, small):
        assert not person.page_errors()


async def test_a_vp8_page_and_an_h264_page_each_decode_the_others_codec(
    participants: JoinFactory, room: str
) -> None:
    h264 = await participants(room, "h264", init_script=H264_ONLY_JS)
    vp8 = await participants(room, "vp8")
    await vp8.wait_video("h264", CODEC_IS, "video/H264")
    await h264.wait_video("vp8", CODEC_IS, "video/VP8")


async def test_an_aiortc_libx264_publisher_reaches_chromium(
    chromium: Browser, stack: Stack, room: str
) -> None:
    publisher = await aiortc_client(stack, room, "x264")
    viewer = await join(chromium, stack.base_url, room, "viewer", init_script=NO_CAMERA_JS)
    try:
        await publisher.connect(video_codec="video/H264")
        assert "H264/90000" in publisher.publish_answer
        video = await viewer.wait_video("x264", CODEC_IS, "video/H264")
        assert video["frameWidth"] == 640  # aiortc's test pattern
        assert not publisher.errors and not viewer.page_errors()
    finally:
        await publisher.close()
        await viewer.close()
