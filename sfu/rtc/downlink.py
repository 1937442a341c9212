"""What both forms of a subscribe half share: down tracks on one peer connection's sink, the
feedback they get back (NACK, PLI, reports, TWCC or REMB), the bandwidth estimate it gives and
the allocation of simulcast layers from it. ``Subscriber`` (the node offers) and ``Player`` (a
WHEP player offers) differ only in how m-lines are negotiated."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from sfu.media.allocator import AUDIO_BPS, Allocator, Demand, cost, priority
from sfu.media.bandwidth_estimator_py import Probe, probe_plan
from sfu.media.clock import monotonic_ms
from sfu.media.description import Kind, MediaLine
from sfu.media.downtrack import PADDING_SIZE, DownTrack
from sfu.media.egress import SubscriberFeedback
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER, wanted_layer
from sfu.media.transport import MediaSink
from sfu.rtc.config import MediaConfig
from sfu.webrtc.codecs import Codec
from sfu.webrtc.kernels import SendLog

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


def codec_of(track: Subscribable) -> Codec:
    """What a subscriber must receive the track in: its publisher's codec (no transcoding)."""
    line = track.source.line
    return Codec(line.mime, line.profile)


class Downlink(Generic[T]):
    def __init__(
        self,
        config: MediaConfig,
        *,
        on_layer: Callable[[str, str | None], None],
        on_downlink: Callable[[int, bool], None],
    ) -> None:
        """`on_layer(track_id, rid)`: the layer of a video now sent (None: paused);
        `on_downlink(bps, send_side)`: the estimate of the client's downlink moved (send_side:
        ours from transport-cc, else its REMB)."""
        self._config = config
        self._on_layer = on_layer
        self._on_downlink = on_downlink
        self._downlink_told: tuple[int, int] | None = None
        self._feedback = SubscriberFeedback(
            config.counters,
            self.allocate,
            self._probe,
            initial_bps=config.start_bitrate_kbps * 1000 or 1_000_000,
        )
        self._send_log: SendLog | None = None
        self._allocator = Allocator()
        self._subscribed: dict[str, T] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._qualities: dict[str, str] = {}
        self._closed = False
        self.downtracks: dict[str, DownTrack[TrackReceiver]] = {}

    def _stamp(self, lines: Iterable[MediaLine], send_log: Callable[[int], SendLog]) -> None:
        """Log the transport-wide seqs we stamp from the first negotiation that has them on."""
        stamped = sorted({line.extensions.transport_cc for line in lines} - {0})
        if stamped and self._send_log is None:
            self._send_log = send_log(stamped[0])
            self._feedback.use_send_log(self._send_log)

    def _bind(
        self,
        track_id: str,
        sink: MediaSink,
        line: MediaLine,
        *,
        continues: DownTrack[TrackReceiver] | None = None,
    ) -> None:
        """Send a subscribed track on ``line`` (in place of what it was sent with before);
        ``continues``: the down track it takes over the m-line from at its first keyframe (its
        numbering goes on), which gets the m-line's feedback until then."""
        track = self._subscribed[track_id]
        self._unbind(track_id)
        downtrack = DownTrack(
            track.source,
            sink,
            line,
            initial_layer=self._config.default_layer,
            counters=self._config.counters,
            on_layer=functools.partial(self._layer_changed, track_id),
            continues=continues,
        )
        track.source.downtracks.append(downtrack)
        track.source.refresh_needed(monotonic_ms())  # its first layer may be one nobody got
        if continues is None or continues.closed:
            self._feedback.add(downtrack)
        self.downtracks[track_id] = downtrack

    def _add(self, track: T, quality: str | None = None) -> None:
        """Subscribe to ``track`` (sent once bound to an m-line), at ``quality`` if given."""
        self._subscribed[track.id] = track
        if quality is not None:
            self._qualities[track.id] = quality

    def _forget(self, track_id: str) -> bool:
        """Stop sending a track and forget what was asked of it; False if not subscribed."""
        if self._subscribed.pop(track_id, None) is None:
            return False
        self._unbind(track_id)
        self._sizes.pop(track_id, None)
        self._qualities.pop(track_id, None)
        return True

    def _unbind(self, track_id: str) -> DownTrack[TrackReceiver] | None:
        """Stop sending a track; its down track, closed, or None if it had none."""
        downtrack = self.downtracks.pop(track_id, None)
        if downtrack is not None:
            downtrack.close()
            self._feedback.remove(downtrack)
        return downtrack

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
        for track_id, layer in targets.items():  # a new layer is asked of its publisher here
            self.downtracks[track_id].set_target(layer, now_ms, congested=self._allocator.congested)

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
        if self._closed or log is None or estimator is None or source.closed:
            return  # a closed source's numbers may be another's now (a player's next source)
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

    def _close_downtracks(self) -> None:
        self._closed = True
        for downtrack in self.downtracks.values():
            downtrack.close()
        self.downtracks.clear()

    def _layer_changed(self, track_id: str, downtrack: DownTrack[TrackReceiver]) -> None:
        if not downtrack.receiver.is_video:
            return
        current = downtrack.forwarder.current
        rids = downtrack.receiver.line.rids or ("",)
        self._on_layer(track_id, None if current == NO_LAYER else rids[current])
