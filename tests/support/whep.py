"""A WHEP player built on aiortc: one peer connection offering recvonly audio and video (as
browser WHEP players do), counting the frames it decodes and the size of the last video frame.
Used by the integration tests, at the rtc level (``offer``/``accept``) and over HTTP (``play``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from tests.support.waiting import until


class AiortcPlayer:
    def __init__(
        self, *, kinds: tuple[str, ...] = ("audio", "video"), video_codec: str = ""
    ) -> None:
        """``video_codec``: offer only this one (e.g. "video/H264"), else all aiortc has."""
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        for kind in kinds:
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            if kind == "video" and video_codec:
                codecs = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences(
                    [c for c in codecs if c.mimeType in (video_codec, "video/rtx")]
                )
        self.frames: Counter[str] = Counter()
        self.size: tuple[int, int] | None = None  # of the last video frame
        self.tracks: list[MediaStreamTrack] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tracks.append(track)
        self._tasks.append(asyncio.create_task(self._count(track)))

    async def _count(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame: Any = await track.recv()
                self.frames[track.kind] += 1
                if track.kind == "video":
                    self.size = (frame.width, frame.height)
                self._changed.set()

    async def wait_until(self, predicate: Any, timeout: float = 20.0) -> None:
        """Wait (on decoded frames, bounded) until predicate() is true."""
        await until(predicate, self._changed, timeout)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def whep_url(signal_url: str) -> str:
    """The node's WHEP endpoint, from its signaling URL."""
    return signal_url.replace("ws://", "http://").replace("/v1/signal", "/v1/whep")


async def post_offer(
    url: str, token: str | None, offer: str, *, content_type: str = "application/sdp"
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=offer, headers=headers)


async def play(player: AiortcPlayer, url: str, token: str) -> str:
    """Play over WHEP: POST the player's offer, apply the answer; the resource URL."""
    response = await post_offer(url, token, await player.offer())
    assert response.status_code == 201, response.text
    await player.accept(response.text)
    return str(httpx.URL(url).join(response.headers["Location"]))
