"""The answering subscribe half (``Player``, WHEP's) with real aiortc peers and no room: a
player that offered recvonly audio and video before anyone published gets a publisher's tracks
on its m-lines without renegotiation, then another publisher's video on the same m-line; a
simulcast video's layer follows the player's bandwidth estimate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from av import VideoFrame

from sfu.media.allocator import HOLD_MS
from sfu.media.clock import monotonic_ms
from sfu.media.counters import MediaCounters
from sfu.media.description import ExtensionIds, Kind, MediaLine
from sfu.media.receiver import TrackReceiver
from sfu.rtc.config import MediaConfig
from sfu.rtc.player import Player
from sfu.rtc.publisher import Publisher
from sfu.rtp.rtcp import build_remb
from sfu.webrtc.certificate import NodeCertificate
from tests.support.whep import AiortcPlayer

pytestmark = pytest.mark.webrtc


@dataclass(frozen=True)
class Track:
    id: str
    kind: Kind
    source: TrackReceiver
    stream_id: str = "stream"
    screen: bool = False


class SmallVideo(VideoStreamTrack):
    """aiortc's test pattern at 320x240, to tell it from the default 640x480."""

    async def recv(self) -> VideoFrame:
        frame = await super().recv()
        small = frame.reformat(width=320, height=240)
        small.pts, small.time_base = frame.pts, frame.time_base
        return small


def config() -> MediaConfig:
    return MediaConfig(
        counters=MediaCounters(),
        default_layer=2,
        start_bitrate_kbps=1000,
        remb_bps=2_000_000,
        answer_timeout_s=5,
        certificate=NodeCertificate(),
    )


@contextlib.asynccontextmanager
async def publishing(video: VideoStreamTrack) -> AsyncIterator[tuple[Publisher, list[Track]]]:
    """An aiortc publisher of ``video`` and a tone, answered by a ``Publisher``."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    pc.addTransceiver(video, direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    publisher = Publisher(config(), on_layers=lambda *_: None, on_state=lambda *_: None)
    await pc.setLocalDescription(await pc.createOffer())
    answered = await publisher.answer(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answered.sdp, "answer"))
    try:
        yield publisher, [Track(t.id, t.receiver.line.kind, t.receiver) for t in answered.new]
    finally:
        await publisher.close()
        await pc.close()


async def ticking(*halves: Publisher | Player) -> None:
    """The node's once-a-second tick, faster: reports, REMB, allocation, keyframe retries."""
    while True:
        await asyncio.sleep(0.2)
        for half in halves:
            half.tick(monotonic_ms())


async def test_a_player_connected_first_gets_tracks_then_another_source_on_its_video() -> None:
    client = AiortcPlayer()
    player: Player[Track] = Player(config(), on_state=lambda *_: None)
    answer = await player.answer(await client.offer(), {})
    assert answer.count("a=sendonly") == 2
    assert sorted(player.kinds) == ["audio", "video"]
    await client.accept(answer)
    async with (
        publishing(VideoStreamTrack()) as (first, tracks),
        publishing(SmallVideo()) as (
            second,
            others,
        ),
    ):
        ticker = asyncio.create_task(ticking(first, second, player))
        try:
            for track in tracks:
                assert player.plays(track)
                player.play(track.kind, track, monotonic_ms())
            await client.wait_until(lambda: client.frames["video"] >= 20)
            await client.wait_until(lambda: client.frames["audio"] >= 20)
            assert client.size == (640, 480)

            video = next(t for t in others if t.kind == "video")
            before = client.frames["video"]
            player.play("video", video, monotonic_ms())
            # one remote track all along: the new source continues the m-line's stream
            await client.wait_until(lambda: client.size == (320, 240))
            await client.wait_until(lambda: client.frames["video"] >= before + 20)
            assert len(client.tracks) == 2
            assert list(player.downtracks) == [
                next(t.id for t in tracks if t.kind == "audio"),
                video.id,
            ]

            # back to a camera that is muted (paused, not started): the one playing plays on
            first_video = next(t for t in tracks if t.kind == "video")
            first_video.source.muted = True
            player.play("video", first_video, monotonic_ms())
            before = client.frames["video"]
            await client.wait_until(lambda: client.frames["video"] >= before + 20)
            assert client.size == (320, 240)
            first_video.source.muted = False  # now it starts, and takes over
            player.allocate(monotonic_ms())
            await client.wait_until(lambda: client.size == (640, 480))
            assert len(client.tracks) == 2
        finally:
            ticker.cancel()
            await player.close()
            await client.close()


async def test_the_players_video_layer_follows_its_bandwidth_estimate() -> None:
    """A simulcast video: the top layer (the player's size is unknown: taken as large) while no
        estimate came, the lowest under a narrow REMB, the top again under a wide one (after the
    allocator's hold-down), as for any subscriber."""
    client = AiortcPlayer(kinds=("video",))
    player: Player[Track] = Player(config(), on_state=lambda *_: None)
    try:
        await player.answer(await client.offer(), {})
        line = MediaLine("0", "video", 96, "video/vp8", 90000, ExtensionIds(), rids=("q", "h", "f"))
        source = TrackReceiver(
            "TR_V", line, send_rtcp=lambda _: True, local_ssrc=1, counters=MediaCounters()
        )
        player.play("video", Track("TR_V", "video", source), now_ms=0)
        (downtrack,) = player.downtracks.values()
        assert downtrack.allocated == 2
        # the player's RTCP, as the datapath hands it over
        player._feedback.on_rtcp(build_remb(1, 300_000, [downtrack.ssrc]), 10_000)
        assert downtrack.allocated == 0
        player._feedback.on_rtcp(build_remb(1, 5_000_000, [downtrack.ssrc]), 11_000)
        player.tick(11_000)  # a rise is taken at the next tick
        assert downtrack.allocated == 0  # held down a while after a step down (HOLD_MS)
        player.tick(10_000 + HOLD_MS)
        assert downtrack.allocated == 2
    finally:
        await player.close()
        await client.close()
