"""A synthetic participant, whatever SFU it talks to: a publish connection that replays the
cached clip as RTP, and a subscribe connection whose packets are counted, never decoded, and
reported on in RTCP receiver reports and transport-cc feedback as a browser would.

Signaling differs per SFU (``load_tests.ours``, ``load_tests.janus``); they call ``publish_via``
and ``subscription_ready`` around their own offer/answer exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy

from load_tests import seam
from load_tests.clip import FPS, LAYER_SPECS, Clip
from load_tests.publishing import MediaSource
from load_tests.receiving import ReceivePath, ReceiverReports
from load_tests.rtp import read_feedback
from load_tests.scenario import Scenario
from load_tests.sdp import add_simulcast, payload_kinds, send_params, transport_cc_id
from sfu.webrtc.sdp import without_transport_cc

CONNECT_TIMEOUT_S = 15.0
FRAME_NS = 1_000_000_000 // FPS
AUDIO_NS = 20_000_000
SR_NS = 1_000_000_000
RR_S = 1.0  # a browser's receiver report interval for video
FEEDBACK_S = 0.1  # a browser's transport-cc feedback interval (50-100 ms)
MAX_LAG_NS = 500_000_000  # behind by more than this (a stalled loop): skip ahead, no burst
RIDS = tuple(spec.rid for spec in LAYER_SPECS)

Exchange = Callable[[str], Awaitable[str]]  # offer SDP -> answer SDP


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class Participant:
    def __init__(
        self, identity: str, scenario: Scenario, clip: Clip, path: ReceivePath, *, publish: bool
    ) -> None:
        self.identity, self.scenario, self.clip, self.path = identity, scenario, clip, path
        self.publishes = publish
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc = new_pc()
        self.source: MediaSource | None = None
        self.receiver = path.receiver()
        self.reports = ReceiverReports(random.getrandbits(32) or 1)
        self.started_ns = 0
        self.published_ns = 0
        self.base_keyframe_requests = self.base_nacks = 0
        self._pump: asyncio.Task[None] | None = None
        self._receiving: asyncio.Task[None] | None = None
        self._token: int | None = None

    async def join(self) -> None:
        """Join the room through the SFU's signaling, publish if asked; subclasses do it."""
        raise NotImplementedError

    async def after_publishers(self) -> None:
        """Called on publishers once every publisher of the scenario has joined."""

    @property
    def join_ms(self) -> float | None:
        """From the first request to publishing (if it publishes) and first media received."""
        ready = [self.published_ns] if self.publishes else []
        if self.expects_media:
            ready.append(self.receiver.first_packet_ns)
        if not all(ready):
            return None
        return (max(ready, default=self.started_ns) - self.started_ns) / 1e6

    @property
    def expects_media(self) -> bool:
        return self.scenario.publishers > 1 or not self.publishes

    async def publish_via(self, exchange: Exchange) -> None:
        """Offer audio/video (video as q/h/f simulcast), start sending once connected."""
        pc = self.publish_pc = new_pc()
        if self.scenario.video:
            pc.addTransceiver(seam.SilentTrack("video"), direction="sendonly")
        if self.scenario.audio:
            pc.addTransceiver(seam.SilentTrack("audio"), direction="sendonly")
        seam.mute_sender_reports(pc)
        await pc.setLocalDescription(await pc.createOffer())
        offer = add_simulcast(without_transport_cc(pc.localDescription.sdp), RIDS)
        answer = await exchange(offer)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        self.source = source = MediaSource(self.clip, send_params(offer, answer, RIDS))
        seam.hook(pc, None, self._on_feedback)
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            while not seam.connected(pc):  # noqa: ASYNC110 (aiortc has no event for it)
                await asyncio.sleep(0.02)
        self.published_ns = time.monotonic_ns()
        self._pump = asyncio.create_task(self._send_loop(source, seam.sender(pc)))

    def _on_feedback(self, data: bytes) -> None:
        if self.source is None:
            return
        feedback = read_feedback(data)
        for ssrc in feedback.keyframe_requests:
            self.source.request_keyframe(ssrc)
        self.source.nacks += len(feedback.nacks)

    def start_window(self) -> None:
        """Counters from here on are the window's: what arrived, and PLI/NACK sent to us (a join
        makes SFUs ask for keyframes, which belongs to joining, not to the steady state)."""
        self.receiver.start_window()
        if self.source is not None:
            self.base_keyframe_requests = self.source.keyframe_requests
            self.base_nacks = self.source.nacks

    async def answer_subscription(self, offer: str) -> str:
        """Apply an SFU's subscribe offer, return our answer, and count what arrives (through
        aiortc until the connection is up, then on the compiled receive path)."""
        pc = self.subscribe_pc
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.receiver.add_kinds(payload_kinds(offer))
        self.receiver.transport_cc_id = transport_cc_id(pc.localDescription.sdp)
        receiver, reports = self.receiver, self.reports
        seam.hook(
            pc,
            lambda data: receiver.on_rtp(data, time.monotonic_ns()),
            lambda data: reports.on_rtcp(data, time.monotonic_ns()),
        )
        if self._receiving is None:
            self._receiving = asyncio.create_task(self._receive(pc))
        return str(pc.localDescription.sdp)

    async def _receive(self, pc: RTCPeerConnection) -> None:
        """Once connected: hand the socket to the receive path, then report every second and,
        if transport-cc was negotiated, give feedback on every packet every 100 ms."""
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            while not seam.connected(pc):  # noqa: ASYNC110 (aiortc has no event for it)
                await asyncio.sleep(0.02)
        token = self._token = self.path.attach(pc, self.receiver, self.reports.on_rtcp)
        send = functools.partial(self.path.send_rtcp, token)
        loops = [_every(RR_S, self._receiver_reports, send)]
        if self.receiver.transport_cc_id:
            loops.append(_every(FEEDBACK_S, self._transport_feedback, send))
        await asyncio.gather(*loops)

    def _receiver_reports(self) -> list[bytes]:
        return self.reports.packets(self.receiver.reports(), time.monotonic_ns())

    def _transport_feedback(self) -> list[bytes]:
        media_ssrc = next((s.ssrc for s in self.receiver.reports()), 0)
        return self.receiver.transport_feedback(self.reports.ssrc, media_ssrc)

    async def _send_loop(
        self, source: MediaSource, send: Callable[[bytes], Awaitable[None]]
    ) -> None:
        now = time.monotonic_ns()
        next_video = next_audio = now
        next_sr = now + SR_NS
        with contextlib.suppress(ConnectionError):
            while True:
                now = time.monotonic_ns()
                if now - min(next_video, next_audio) > MAX_LAG_NS:
                    next_video = next_audio = now
                if now >= next_video:
                    for packet in source.video_frame(now):
                        await send(packet)
                    next_video += FRAME_NS
                if now >= next_audio:
                    audio = source.audio_frame(now)
                    if audio is not None:
                        await send(audio)
                    next_audio += AUDIO_NS
                if now >= next_sr:
                    for report in source.sender_reports(time.time()):
                        await send(report)
                    next_sr += SR_NS
                wait_ns = min(next_video, next_audio, next_sr) - time.monotonic_ns()
                await asyncio.sleep(max(wait_ns, 0) / 1e9)

    async def close(self) -> None:
        for task in (self._pump, self._receiving):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._token is not None:
            self.path.detach(self._token)
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()


async def _every(
    interval_s: float, packets: Callable[[], list[bytes]], send: Callable[[list[bytes]], None]
) -> None:
    """Send what ``packets`` gives every ``interval_s``, until cancelled; the first at a random
    phase, so a room's subscribers do not all send at once."""
    await asyncio.sleep(interval_s * random.random())
    while True:
        send(packets())
        await asyncio.sleep(interval_s)
