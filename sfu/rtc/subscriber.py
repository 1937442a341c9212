"""The subscribe half of a participant: the peer connection everyone else's tracks go out on,
a down track per subscribed track, and the allocation of layers to them from the subscriber's
wishes (tile size, quality) and its bandwidth estimate."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from sfu.media.allocator import AUDIO_BPS, Allocator, Demand, cost, priority
from sfu.media.bandwidth_estimator import Probe, probe_plan
from sfu.media.clock import monotonic_ms
from sfu.media.description import Kind
from sfu.media.downtrack import PADDING_SIZE, DownTrack
from sfu.media.egress import SubscriberFeedback
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER, wanted_layer
from sfu.rtc.config import MediaConfig
from sfu.rtc.negotiation import Negotiation, NegotiationError
from sfu.webrtc.codecs import Codec, CodecCapability, decodes
from sfu.webrtc.kernels import SendLog
from sfu.webrtc.peer import SubscribePeer

# The size of a probe's padding packet: its padding, our header and extensions, SRTP's tag
PADDING_PACKET = PADDING_SIZE + 40
# Probes look this far above what the subscriber's wishes cost (layer rates vary)
PROBE_HEADROOM = 1.2
# How far a reported downlink estimate moves before the client is told again, and how often at
# most (the client shows it; a test follows it).
DOWNLINK_CHANGE = 0.1
DOWNLINK_EVERY_MS = 250


def downlink_due(last: tuple[int, int] | None, bps: int, now_ms: int) -> bool:
    """Whether to tell the client its estimate ``bps`` now, ``last`` = (bps, ms) told before."""
    if last is None:
        return True
    told_bps, told_ms = last
    return now_ms - told_ms >= DOWNLINK_EVERY_MS and abs(bps - told_bps) > DOWNLINK_CHANGE * (
        told_bps
    )


class Subscribable(Protocol):
    """A track someone publishes, as far as sending it is concerned."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def stream_id(self) -> str: ...

    @property
    def source(self) -> TrackReceiver: ...

    @property
    def screen(self) -> bool: ...


T = TypeVar("T", bound=Subscribable)


class Subscriber(Generic[T]):
    def __init__(
        self,
        config: MediaConfig,
        *,
        on_offer: Callable[[str, dict[str, T]], None],
        on_layer: Callable[[str, str | None], None],
        on_state: Callable[[str, str], None],
        on_downlink: Callable[[int, bool], None] = lambda bps, send_side: None,
        decoded: Sequence[CodecCapability] | None = None,
        on_undecodable: Callable[[T, Codec], None] = lambda track, codec: None,
    ) -> None:
        """`on_offer(sdp, mid → track)`: an offer to send (answer with `apply_answer`);
        `on_layer(track_id, rid)`: the layer of a video now sent (None: paused);
        `on_state(state, failed_step)`: the peer connection's state changed;
        `on_downlink(bps, send_side)`: the estimate of the client's downlink moved (send_side:
        ours from transport-cc, else its REMB);
        `decoded`: the codecs the client said it decodes (None: all we forward); a track in
        another one is not sent, and `on_undecodable(track, codec)` is told (an offer with it
        would fail the client's whole answer)."""
        self._config = config
        self._on_offer = on_offer
        self._on_layer = on_layer
        self._on_downlink = on_downlink
        self._decoded = decoded
        self._on_undecodable = on_undecodable
        self._downlink_told: tuple[int, int] | None = None
        self._feedback = SubscriberFeedback(
            config.counters,
            self.allocate,
            self._probe,
            initial_bps=config.start_bitrate_kbps * 1000 or 1_000_000,
        )
        self._peer = SubscribePeer(
            self._feedback,
            config.counters,
            certificate=config.certificate,
            mux=config.mux,
            transport_cc=config.transport_cc,
        )
        self._send_log: SendLog | None = None
        self._peer.on_state(on_state)
        self._negotiation = Negotiation(config.answer_timeout_s)
        self._allocator = Allocator()
        self._subscribed: dict[str, T] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._qualities: dict[str, str] = {}
        self._closed = False
        self.downtracks: dict[str, DownTrack[TrackReceiver]] = {}

    async def subscribe(self, tracks: list[T]) -> None:
        """Receive these tracks (one renegotiation for all of them)."""
        new = []
        for track in tracks:
            codec = Codec(track.source.line.mime, track.source.line.profile)
            if track.id in self._subscribed:
                continue
            if self._decoded is not None and not decodes(self._decoded, codec):
                self._on_undecodable(track, codec)
                continue
            new.append(track)
            self._subscribed[track.id] = track
            self._peer.add_track(track.id, track.stream_id, track.kind, codec)
        if new:
            await self._negotiate()

    @property
    def subscribed(self) -> list[str]:
        """The ids of the tracks it receives (or is about to)."""
        return list(self._subscribed)

    async def unsubscribe(self, track_ids: list[str]) -> None:
        """Stop receiving these tracks (one renegotiation for all of them)."""
        gone = [t for t in track_ids if self._subscribed.pop(t, None) is not None]
        for track_id in gone:
            downtrack = self.downtracks.pop(track_id, None)
            if downtrack is not None:
                downtrack.close()
                self._feedback.remove(downtrack)
            self._peer.remove_track(track_id)
        if gone:
            await self._negotiate()

    async def apply_answer(self, answer: str) -> None:
        if not self._negotiation.in_flight:
            raise NegotiationError("no subscribe_offer is waiting for an answer")
        lines = await self._peer.apply_answer(answer)
        sink = self._peer.sink
        assert sink is not None  # a negotiated peer always has its transport
        stamped = sorted({line.extensions.transport_cc for line in lines.values()} - {0})
        if stamped and self._send_log is None:
            self._send_log = self._peer.send_log(stamped[0])
            self._feedback.use_send_log(self._send_log)
        for track_id, line in lines.items():
            track = self._subscribed.get(track_id)
            existing = self.downtracks.get(track_id)
            if track is None or (existing is not None and existing.line == line):
                continue
            if existing is not None:
                existing.close()
                self._feedback.remove(existing)
            downtrack = DownTrack(
                track.source,
                sink,
                line,
                initial_layer=self._config.default_layer,
                counters=self._config.counters,
                on_layer=functools.partial(self._layer_changed, track_id),
            )
            track.source.downtracks.append(downtrack)
            self._feedback.add(downtrack)
            self.downtracks[track_id] = downtrack
        if self._negotiation.answered():
            await self._negotiate()

    async def restart_ice(self) -> None:
        """The client lost its path to us: offer again with new ICE credentials (RFC 8445 §9),
        on the same peer connection and DTLS session."""
        if not self._peer.restart_ice():
            raise NegotiationError("no subscribe connection on the node's port to restart")
        await self._negotiate()

    async def add_ice_candidate(
        self, candidate: str | None, mid: str | None, index: int | None
    ) -> None:
        await self._peer.add_ice_candidate(candidate, mid, index)

    def set_video_size(self, track_id: str, width: int, height: int, now_ms: int) -> bool:
        """The rendered size of a subscribed video (0x0: hidden, so paused)."""
        if track_id not in self._subscribed:
            return False
        self._sizes[track_id] = (width, height)
        self.allocate(now_ms)
        return True

    def set_video_quality(self, track_id: str, quality: str, now_ms: int) -> bool:
        """A manual choice (low/medium/high) for a subscribed video, or auto (by size)."""
        if track_id not in self._subscribed:
            return False
        self._qualities[track_id] = quality
        self.allocate(now_ms)
        return True

    def allocate(self, now_ms: int) -> None:
        """Give each subscribed video the layer its wishes and our bandwidth estimate allow."""
        demands, audio = [], 0
        for track_id, downtrack in self.downtracks.items():
            receiver = downtrack.receiver
            if not receiver.is_video:
                audio += 1
                continue
            size = self._sizes.get(track_id)
            wanted = (
                NO_LAYER
                if receiver.muted
                else wanted_layer(
                    self._qualities.get(track_id, "auto"),
                    size,
                    [h for _, h in receiver.layer_sizes],
                    self._config.default_layer,
                )
            )
            track = self._subscribed.get(track_id)
            screen = track is not None and track.screen
            demands.append(
                Demand(
                    track_id,
                    wanted,
                    tuple(receiver.layer_bps),
                    downtrack.allocated,
                    priority(size, screen=screen),
                )
            )
        feedback = self._feedback
        if feedback.estimator is not None:
            wanted_bps = sum(cost(d, d.wanted) for d in demands) + audio * AUDIO_BPS
            feedback.estimator.probe_limit_bps = int(PROBE_HEADROOM * wanted_bps)
        estimate = feedback.estimate_bps
        targets = self._allocator.allocate(
            demands, estimate, audio, now_ms, loss=feedback.loss, send_side=feedback.send_side
        )
        if estimate is not None and downlink_due(self._downlink_told, estimate, now_ms):
            self._downlink_told = (estimate, now_ms)
            self._on_downlink(estimate, feedback.send_side)
        for track_id, layer in targets.items():
            self.downtracks[track_id].set_target(layer, now_ms, congested=self._allocator.congested)
        for downtrack in self.downtracks.values():
            downtrack.receiver.refresh_needed(now_ms)

    def _probe(self, probe: Probe) -> None:
        """Send the probe the estimator asks for: padding in the video we send most of, paced
        at the probe's rate by the event loop, each packet logged with the probe's id."""
        videos = [
            d
            for d in self.downtracks.values()
            if d.receiver.is_video and d.forwarder.current != NO_LAYER
        ]
        if self._send_log is None or not videos:
            return  # nothing to probe in: the estimate grows by AIMD alone
        source = max(videos, key=lambda d: d.forwarder.current)
        loop = asyncio.get_running_loop()
        for delay_ms in probe_plan(probe, PADDING_PACKET):
            loop.call_later(delay_ms / 1000, self._send_probe, probe, source)

    def _send_probe(self, probe: Probe, source: DownTrack[TrackReceiver]) -> None:
        log, estimator = self._send_log, self._feedback.estimator
        if self._closed or log is None or estimator is None:
            return
        log.probe = probe.id
        try:
            sent = source.send_padding(monotonic_ms())
        finally:
            log.probe = 0
        if sent:
            estimator.on_probe_sent(probe, 1)

    @property
    def round_trip_ms(self) -> int | None:
        """To the client, from its receiver reports on our sender reports; None before one."""
        return self._feedback.round_trip_ms

    def tick(self, now_ms: int) -> None:
        """Once a second: allocation and reports."""
        self.allocate(now_ms)
        for downtrack in self.downtracks.values():
            downtrack.tick(now_ms)

    def unanswered(self, now_ms: int) -> float | None:
        """The answer timeout, if the offer in flight went unanswered past it (the client is
        stuck or gone); else None."""
        expired = not self._closed and self._negotiation.expired(now_ms)
        return self._negotiation.timeout_s if expired else None

    async def close(self) -> None:
        self._closed = True
        for downtrack in self.downtracks.values():
            downtrack.close()
        self.downtracks.clear()
        await self._peer.close()

    async def _negotiate(self) -> None:
        if self._closed or not self._negotiation.start():
            return  # closed: nothing to offer; in flight: folded into the next offer
        sdp, mids = await self._peer.create_offer()
        self._on_offer(sdp, {mid: self._subscribed[track_id] for track_id, mid in mids.items()})
        self._negotiation.offered(monotonic_ms())

    def _layer_changed(self, track_id: str, downtrack: DownTrack[TrackReceiver]) -> None:
        if not downtrack.receiver.is_video:
            return
        current = downtrack.forwarder.current
        rids = downtrack.receiver.line.rids or ("",)
        self._on_layer(track_id, None if current == NO_LAYER else rids[current])
