"""Codecs we cannot forward or a subscriber cannot decode: a publish offer's video without a
codec we forward is declined alone (its audio is answered), an offer with nothing we forward is
refused, and a subscriber's declared capabilities decide which tracks it is offered."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from sfu.media.counters import MediaCounters
from sfu.webrtc.certificate import NodeCertificate
from sfu.webrtc.codecs import Codec, CodecCapability, decodes
from sfu.webrtc.peer import PublishPeer, SdpError
from sfu.webrtc.sdp import split_sections
from tests.support.sinks import NoMedia

pytestmark = pytest.mark.webrtc


async def _offer(*renames: tuple[str, str]) -> str:
    """A real offer of an aiortc client (video, then audio, bundled) with codecs renamed, e.g.
    ("VP8/90000", "VP9/90000"), as a client sending only codecs we do not forward offers."""
    client = RTCPeerConnection()
    client.addTransceiver("video", direction="sendonly")
    client.addTransceiver("audio", direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    offer: str = client.localDescription.sdp
    await client.close()
    for old, new in renames:
        offer = offer.replace(old, new)
    return offer


VP9_AV1 = (("VP8/90000", "VP9/90000"), ("H264/90000", "AV1/90000"))


async def test_video_without_a_codec_we_forward_is_declined_and_the_audio_answered() -> None:
    offer = await _offer(*VP9_AV1)
    peer = PublishPeer(NoMedia(), MediaCounters(), start_kbps=300, certificate=NodeCertificate())
    try:
        answer, lines, told = await peer.answer(offer)
        session, video, audio = split_sections(answer)
        assert "a=group:BUNDLE 0 1" in session  # Chrome keeps its BUNDLE tag (mid 0)
        assert video[0].startswith("m=video ") and video[0].split(" ")[1] != "0"
        assert "a=inactive" in video and "a=mid:0" in video
        assert any(line.startswith("a=ice-ufrag:") for line in video)  # the bundle's transport
        assert next(line for line in video if line.startswith("a=rtpmap:")).endswith("VP9/90000")
        assert "a=rtpmap:96 opus/48000/2" in audio and "a=recvonly" in audio
        assert [(line.mid, line.mime) for line in lines] == [("1", "audio/opus")]
        assert told == [
            "video: none of the offered codecs is forwarded (VP9, AV1); we accept VP8 and H.264 "
            "(packetization-mode=1, baseline or constrained-baseline profile: profile-level-id "
            "4200xx or 42e0xx)"
        ]
        again, lines_again, told_again = await peer.answer(offer)  # e.g. an ICE restart
        assert told_again == [] and lines_again == lines and "a=inactive" in again
    finally:
        await peer.close()


async def test_an_offer_with_nothing_we_forward_is_refused_naming_each_kind() -> None:
    # H.264 in the high profile only, as a camera's hardware encoder may offer
    high = ("profile-level-id=42", "profile-level-id=64")
    offer = await _offer(("VP8/90000", "VP9/90000"), high, ("opus/48000/2", "PCMU/8000"))
    peer = PublishPeer(NoMedia(), MediaCounters(), start_kbps=300, certificate=NodeCertificate())
    try:
        with pytest.raises(SdpError) as refused:
            await peer.answer(offer)
        assert str(refused.value).startswith(
            "video: none of the offered codecs is forwarded (VP9, H264 64001f/mode 1, "
            "H264 64e01f/mode 1); we accept VP8"
        )
        assert (
            "; audio: none of the offered codecs is forwarded (PCMU, G722, PCMA); we accept Opus"
            in str(refused.value)
        )
    finally:
        await peer.close()


CHROME_H264 = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"


@pytest.mark.parametrize(
    ("capabilities", "codec", "decoded"),
    [
        ([CodecCapability("video/VP8")], Codec("video/vp8"), True),
        ([CodecCapability("video/VP8")], Codec("video/h264", "42e01f"), False),
        ([CodecCapability("audio/opus", "minptime=10")], Codec("audio/opus"), True),
        ([CodecCapability("video/H264", CHROME_H264)], Codec("video/h264", "42e01f"), True),
        # constrained baseline either way, at another level
        ([CodecCapability("video/H264", CHROME_H264)], Codec("video/h264", "42c034"), True),
        # baseline is not constrained baseline (RFC 6184 §8.1)
        ([CodecCapability("video/H264", CHROME_H264)], Codec("video/h264", "42001f"), False),
        (
            [CodecCapability("video/H264", CHROME_H264.replace("mode=1", "mode=0"))],
            Codec("video/h264", "42e01f"),
            False,
        ),
        ([], Codec("audio/opus"), False),
    ],
)
def test_a_subscriber_decodes_a_codec_it_declared(
    capabilities: list[CodecCapability], codec: Codec, decoded: bool
) -> None:
    assert decodes(capabilities, codec) is decoded
