"""Codecs the node cannot forward, or a subscriber cannot decode, cost only what they must: a
Chromium page whose camera may only be encoded as VP9 is told so and still publishes its
microphone; a page that decodes only VP8 is told which track it does not get, and gets the rest.
"""

from __future__ import annotations

import pytest

from tests.browser.harness import CODEC_IS, H264_ONLY_JS, NO_CAMERA_JS, JoinFactory

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# The page's sending video transceivers prefer VP9 (and its RTX) only: its offer has no video
# codec the node forwards. Receiving is not restricted.
VP9_ONLY_JS = """
const addTransceiver = RTCPeerConnection.prototype.addTransceiver;
RTCPeerConnection.prototype.addTransceiver = function (trackOrKind, init) {
  const transceiver = addTransceiver.call(this, trackOrKind, init);
  const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
  if (kind === 'video' && init?.direction === 'sendonly') {
    transceiver.setCodecPreferences(RTCRtpReceiver.getCapabilities('video').codecs.filter(
      (c) => ['video/VP9', 'video/rtx'].includes(c.mimeType)));
  }
  return transceiver;
};
"""
# The page says (in its join, from getCapabilities) that it decodes no video codec but VP8.
DECODES_VP8_ONLY_JS = """
const getCapabilities = RTCRtpReceiver.getCapabilities;
RTCRtpReceiver.getCapabilities = (kind) => {
  const capabilities = getCapabilities.call(RTCRtpReceiver, kind);
  return kind !== 'video' ? capabilities : {...capabilities, codecs: capabilities.codecs.filter(
    (c) => ['video/VP8', 'video/rtx'].includes(c.mimeType))};
};
"""
# Resolves to the first error frame with `code` the page got.
ERROR_JS = "(code) => window.sfu.errors.find((e) => e.code === code)"


async def test_a_vp9_only_camera_is_refused_and_its_microphone_is_heard(
    participants: JoinFactory, room: str
) -> None:
    vp9 = await participants(room, "vp9", init_script=VP9_ONLY_JS)
    listener = await participants(room, "listener", init_script=NO_CAMERA_JS)
    error = await vp9.wait_for(ERROR_JS, "unsupported_codec")
    assert error["ref"] == "publish_offer"
    assert error["message"].startswith("video: none of the offered codecs is forwarded (VP9")
    assert "we accept VP8 and H.264" in error["message"]
    stats = await listener.hears("vp9")
    remote = stats["remotes"]["vp9"]
    assert remote["video"] is None
    assert await vp9.page.evaluate("window.sfu.state") == "joined"
    assert not vp9.page_errors() and not listener.page_errors()


async def test_a_page_decoding_only_vp8_is_told_and_gets_the_rest(
    participants: JoinFactory, room: str
) -> None:
    await participants(room, "h264", init_script=H264_ONLY_JS)
    await participants(room, "vp8")
    viewer = await participants(room, "viewer", init_script=NO_CAMERA_JS + DECODES_VP8_ONLY_JS)
    error = await viewer.wait_for(ERROR_JS, "unsupported_codec")
    assert error["track_id"].startswith("TR")
    assert error["message"].startswith(f"video track {error['track_id']} of h264 is in H264")
    await viewer.wait_video("vp8", CODEC_IS, "video/VP8")
    await viewer.hears("vp8")
    stats = await viewer.hears("h264")
    assert stats["remotes"]["h264"]["video"] is None
    assert [e["code"] for e in await viewer.page.evaluate("window.sfu.errors")] == [
        "unsupported_codec"
    ]
    assert not viewer.page_errors()
