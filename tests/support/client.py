"""A conference participant built on aiortc, speaking the signaling protocol like the web client.

Publishes a synthetic camera (VP8, encoded by aiortc) and microphone (Opus), receives everyone
else and counts decoded frames per remote participant. Used by the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import websockets
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from tests.support.waiting import until


class Client:
    def __init__(
        self,
        url: str,
        room: str,
        token: str,
        *,
        receive_codecs: list[dict[str, str]] | None = None,
    ) -> None:
        """`receive_codecs`: what its join declares it decodes (None: says nothing)."""
        self.url, self.room, self.token = url, room, token
        self.receive_codecs = receive_codecs
        self.publish_pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.subscribe_pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.frames: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.frame_sizes: dict[str, tuple[int, int]] = {}
        self.errors: list[dict[str, Any]] = []
        self.data: list[dict[str, Any]] = []  # data messages received, oldest first
        self.pongs: list[float] = []  # the `ts` of each pong
        self.publish_answer = ""
        self.participants: set[str] = set()
        self.infos: dict[str, dict[str, Any]] = {}  # identity -> its participant info, latest
        self.updates: list[dict[str, Any]] = []  # participant_updated messages, oldest first
        self.joined = asyncio.Event()
        self.published = asyncio.Event()
        self.closed = asyncio.Event()  # the node closed the signaling socket
        self.close_code: int | None = None
        self.close_reason = ""
        self.muted: dict[tuple[str, str], bool] = {}  # (participant, track id) -> muted
        self.track_events: list[dict[str, Any]] = []  # track_published and track_unpublished
        self.track_frames: dict[str, int] = defaultdict(int)  # by track id
        self._tracks: dict[str, dict[str, str]] = {}
        self._published: dict[str, str] = {}  # mid -> track id
        self.layers: dict[str, str | None] = {}  # track id -> layer the node says it forwards
        self.speakers: list[tuple[float, dict[str, Any]]] = []  # (loop time, message) as received
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self.subscribe_pc.on("track", self._on_track)

    async def connect(
        self,
        *,
        publish: bool = True,
        video_codec: str = "",
        video: bool = True,
        audio: MediaStreamTrack | None = None,
    ) -> None:
        """Join, then publish a test pattern and silence unless ``publish`` is False; the video in
        ``video_codec`` (e.g. "video/H264") when given, else the first aiortc offers (VP8), or
        none without ``video``; ``audio`` instead of the silence."""
        self._ws = await websockets.connect(self.url, max_size=2**20)
        join = {"type": "join", "protocol": 1, "room": self.room, "token": self.token}
        if self.receive_codecs is not None:
            join["receive_codecs"] = self.receive_codecs
        await self.send(join)
        self._tasks.append(asyncio.create_task(self._read_loop()))
        await asyncio.wait_for(self.joined.wait(), 10)
        if publish:
            if video:
                camera = self.publish_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
            if video and video_codec:
                codecs = RTCRtpSender.getCapabilities("video").codecs
                camera.setCodecPreferences(
                    [c for c in codecs if c.mimeType in (video_codec, "video/rtx")]
                )
            self.publish_pc.addTransceiver(audio or AudioStreamTrack(), direction="sendonly")
            await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
            await self.send({"type": "publish_offer", "sdp": self.publish_pc.localDescription.sdp})
            await asyncio.wait_for(self.published.wait(), 10)

    async def offer_again(
        self, new: RTCRtpTransceiver | None = None, source: str = "screen"
    ) -> None:
        """A new publish offer (tracks added or stopped since); ``new`` carries ``source``."""
        self.published.clear()
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        offer: dict[str, Any] = {
            "type": "publish_offer",
            "sdp": self.publish_pc.localDescription.sdp,
        }
        if new is not None:
            offer["sources"] = {new.mid: source}
        await self.send(offer)
        await asyncio.wait_for(self.published.wait(), 10)

    async def share_screen(self, source: str = "screen") -> RTCRtpTransceiver:
        """Publish a second video (a test pattern) as a shared screen."""
        screen = self.publish_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await self.offer_again(screen, source)
        return screen

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def _read_loop(self) -> None:
        try:
            async for text in self._ws:
                await self._handle(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        except InvalidStateError:  # an offer arrived as the node hung up: our peers are closed
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._ws.wait_closed()
        self.close_code, self.close_reason = self._ws.close_code, self._ws.close_reason or ""
        self.closed.set()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "joined":
            self.participants = {p["identity"] for p in message["participants"]}
            self.infos = {
                p["identity"]: p for p in [message["participant"], *message["participants"]]
            }
            self.joined.set()
        elif kind == "publish_answer":
            self.publish_answer = message["sdp"]
            self._published = message["tracks"]
            await self.publish_pc.setRemoteDescription(
                RTCSessionDescription(message["sdp"], "answer")
            )
            self.published.set()
        elif kind == "subscribe_offer":
            self._tracks.update(message["tracks"])
            await self.subscribe_pc.setRemoteDescription(
                RTCSessionDescription(message["sdp"], "offer")
            )
            await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
            await self.send(
                {"type": "subscribe_answer", "sdp": self.subscribe_pc.localDescription.sdp}
            )
        elif kind == "participant_joined":
            self.participants.add(message["participant"]["identity"])
            self.infos[message["participant"]["identity"]] = message["participant"]
        elif kind == "participant_updated":
            self.updates.append(message)
            self.infos[message["participant"]["identity"]] = message["participant"]
        elif kind == "participant_left":
            self.participants.discard(message["identity"])
        elif kind in ("track_published", "track_unpublished"):
            self.track_events.append(message)
        elif kind == "track_muted":
            self.muted[message["participant"], message["track_id"]] = message["muted"]
        elif kind == "subscription_layer":
            self.layers[message["track_id"]] = message["layer"]
        elif kind == "speakers":
            self.speakers.append((asyncio.get_running_loop().time(), message))
        elif kind == "error":
            self.errors.append(message)
        elif kind == "data":
            self.data.append(message)
        elif kind == "pong":
            self.pongs.append(message["ts"])
        self._changed.set()

    async def handled(self) -> None:
        """Wait until the node has handled everything we sent so far (it answers a ping after
        them: it reads one frame after the other)."""
        ts = float(len(self.pongs) + 1)
        await self.send({"type": "ping", "ts": ts})
        await self.wait_until(lambda: ts in self.pongs)

    def published_track(self, kind: str) -> str:
        """The id the node gave our own published track of `kind`."""
        mids = {t.mid: t for t in self.publish_pc.getTransceivers()}
        return next(track for mid, track in self._published.items() if mids[mid].kind == kind)

    def track_id(self, participant: str, kind: str) -> str:
        """The id of a track we receive from ``participant``."""
        return next(
            t["track_id"]
            for t in self._tracks.values()
            if t["participant"] == participant and t["kind"] == kind
        )

    def sources(self, participant: str) -> dict[str, str]:
        """Track id -> source of what we were offered of ``participant``."""
        return {
            t["track_id"]: t["source"]
            for t in self._tracks.values()
            if t["participant"] == participant
        }

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(
            (t for t in self.subscribe_pc.getTransceivers() if t.receiver.track is track), None
        )
        self._tasks.append(asyncio.create_task(self._count(track, transceiver)))

    async def _count(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver | None) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await track.recv()
                mid = transceiver.mid if transceiver else None
                info = self._tracks.get(mid or "", {})
                who = info.get("participant", "?")
                self.frames[who][track.kind] += 1
                self.track_frames[info.get("track_id", "?")] += 1
                if track.kind == "video":
                    self.frame_sizes[who] = (frame.width, frame.height)

    async def wait_until(self, predicate: Any, timeout: float = 20.0) -> None:
        """Wait (on events, bounded) until predicate() is true."""
        await until(predicate, self._changed, timeout, recheck_s=0.2)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send({"type": "leave"})
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        await self.publish_pc.close()
        await self.subscribe_pc.close()


def receives_from(client: Client, others: Sequence[str], minimum: int = 10) -> bool:
    """`client` has decoded at least `minimum` video and audio frames of each of `others`."""
    return all(
        client.frames[o]["video"] >= minimum and client.frames[o]["audio"] >= minimum
        for o in others
    )


@contextlib.asynccontextmanager
async def conference(
    url: str, room: str, names: Sequence[str], token: Callable[[str, str], Awaitable[str]]
) -> AsyncIterator[dict[str, Client]]:
    """`names` joined and publishing, each receiving every other; all closed afterwards."""
    clients = {n: Client(url, room, await token(room, n)) for n in names}
    try:
        for client in clients.values():
            await client.connect()
        for name, client in clients.items():
            others = [o for o in names if o != name]
            await client.wait_until(lambda c=client, o=others: receives_from(c, o))
        yield clients
    finally:
        for client in clients.values():
            await client.close()


__all__ = ["Client", "conference", "receives_from"]
