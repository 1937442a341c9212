"""One participant: its two peer connections, what it publishes, what it receives.

Subscribe-side negotiation is serialized: one offer in flight, and changes made meanwhile are
folded into the next offer when the answer comes back. An offer not answered in time ends the
session: a client that stopped answering would otherwise hold its place on the node forever.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sfu.media.allocator import Allocator, Demand
from sfu.media.clock import monotonic_ms
from sfu.media.counters import MediaCounters
from sfu.media.downtrack import DownTrack
from sfu.media.egress import SubscriberFeedback
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER, wanted_layer
from sfu.signaling import close_codes
from sfu.signaling.messages import (
    ParticipantInfo,
    PublisherLayers,
    ServerMessage,
    SubscribedTrack,
    SubscribeOffer,
    SubscriptionLayer,
    TrackInfo,
)
from sfu.webrtc.peer import PublishPeer, SubscribePeer
from sfu.webrtc.udpmux import UdpMux

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Media settings every participant of a node shares."""

    counters: MediaCounters
    default_layer: int
    start_bitrate_kbps: int
    remb_bps: int
    answer_timeout_s: float  # a subscribe offer unanswered this long ends the session
    mux: UdpMux | None = None  # the node's ICE-lite port (SFU_UDP_PORT), else aioice's ports


@dataclass(slots=True)
class PublishedTrack:
    info: TrackInfo
    receiver: TrackReceiver
    publisher: Participant


class NegotiationError(Exception):
    """A message that does not fit the negotiation state."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(9)}"


class Participant:
    def __init__(
        self,
        *,
        identity: str,
        name: str,
        can_publish: bool,
        can_subscribe: bool,
        send: Callable[[ServerMessage], None],
        disconnect: Callable[[int, str], None],
        config: MediaConfig,
    ) -> None:
        self.sid = new_id("PA")
        self.identity = identity
        self.name = name
        self.can_publish = can_publish
        self.can_subscribe = can_subscribe
        self.send = send
        self.disconnect = disconnect
        self._config = config
        self.published: dict[str, PublishedTrack] = {}
        self.downtracks: dict[str, DownTrack] = {}
        self._ingress = PublisherIngress(config.counters, remb_bps=config.remb_bps)
        self._publish_peer: PublishPeer | None = None
        self._feedback = SubscriberFeedback(config.counters, self.allocate)
        self._subscribe_peer = SubscribePeer(self._feedback, config.counters, mux=config.mux)
        self._subscribe_peer.on_state(self._media_state)
        self._closing = False
        self._subscribed: dict[str, PublishedTrack] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._qualities: dict[str, str] = {}
        self._allocator = Allocator()
        self._offer_tracks: dict[str, SubscribedTrack] = {}
        self._negotiating = False
        self._renegotiate = False
        self._offered_ms = -1  # when the unanswered subscribe offer went out

    def info(self) -> ParticipantInfo:
        return ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            tracks=[t.info for t in self.published.values()],
        )

    # publishing -------------------------------------------------------------------------------

    async def publish(self, offer: str) -> tuple[str, dict[str, str], list[PublishedTrack]]:
        """Answer a publish offer; return the answer, mid → track id, and the new tracks."""
        if self._publish_peer is None:
            self._publish_peer = PublishPeer(
                self._ingress,
                self._config.counters,
                start_kbps=self._config.start_bitrate_kbps,
                mux=self._config.mux,
            )
            self._publish_peer.on_state(self._media_state)
        answer, lines = await self._publish_peer.answer(offer)
        self._ingress.sink = self._publish_peer.sink
        by_mid = {t.receiver.line.mid: t for t in self.published.values()}
        new = []
        for line in lines:
            if line.mid in by_mid:
                continue
            track_id = new_id("TR")
            receiver = self._ingress.add_track(track_id, line)
            receiver.on_needed = functools.partial(self._send_dynacast, track_id)
            track = PublishedTrack(
                TrackInfo(id=track_id, kind=line.kind, simulcast=list(line.rids)), receiver, self
            )
            self.published[track_id] = track
            new.append(track)
        mids = {t.receiver.line.mid: track_id for track_id, t in self.published.items()}
        return answer, mids, new

    def set_muted(self, track_id: str, muted: bool) -> PublishedTrack | None:
        track = self.published.get(track_id)
        if track is not None:
            track.info = track.info.model_copy(update={"muted": muted})
        return track

    async def add_ice_candidate(
        self, target: str, candidate: str | None, mid: str | None, index: int | None
    ) -> None:
        peer = self._publish_peer if target == "publish" else self._subscribe_peer
        if peer is None:
            raise NegotiationError("no publish connection yet: send publish_offer first")
        await peer.add_ice_candidate(candidate, mid, index)

    # subscribing ------------------------------------------------------------------------------

    async def subscribe(self, tracks: list[PublishedTrack]) -> None:
        """Receive these tracks (one renegotiation for all of them)."""
        new = [t for t in tracks if t.info.id not in self._subscribed] if self.can_subscribe else []
        for track in new:
            self._subscribed[track.info.id] = track
            self._subscribe_peer.add_track(track.info.id, track.publisher.sid, track.info.kind)
        if new:
            await self._negotiate()

    async def unsubscribe(self, track_ids: list[str]) -> None:
        """Stop receiving these tracks (one renegotiation for all of them)."""
        gone = [t for t in track_ids if self._subscribed.pop(t, None) is not None]
        for track_id in gone:
            downtrack = self.downtracks.pop(track_id, None)
            if downtrack is not None:
                downtrack.close()
                self._feedback.remove(downtrack)
            self._subscribe_peer.remove_track(track_id)
        if gone:
            await self._negotiate()

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
            priority = size[0] * size[1] if size else 0
            demands.append(
                Demand(track_id, wanted, tuple(receiver.layer_bps), downtrack.allocated, priority)
            )
        feedback = self._feedback
        targets = self._allocator.allocate(
            demands, feedback.estimate_bps, audio, now_ms, loss=feedback.loss
        )
        for track_id, layer in targets.items():
            self.downtracks[track_id].set_target(layer, now_ms, congested=self._allocator.congested)
        for downtrack in self.downtracks.values():
            downtrack.receiver.refresh_needed(now_ms)

    async def _negotiate(self) -> None:
        if self._closing:  # its connections are closed or closing: nothing to offer them
            return
        if self._negotiating:
            self._renegotiate = True
            return
        self._negotiating = True
        self._renegotiate = False
        sdp, mids = await self._subscribe_peer.create_offer()
        self._offer_tracks = {
            mid: SubscribedTrack(
                track_id=track_id,
                participant=self._subscribed[track_id].publisher.identity,
                kind=self._subscribed[track_id].info.kind,
            )
            for track_id, mid in mids.items()
        }
        self.send(SubscribeOffer(sdp=sdp, tracks=self._offer_tracks))
        self._offered_ms = monotonic_ms()

    async def subscribe_answer(self, answer: str) -> None:
        if not self._negotiating:
            raise NegotiationError("no subscribe_offer is waiting for an answer")
        lines = await self._subscribe_peer.apply_answer(answer)
        sink = self._subscribe_peer.sink
        assert sink is not None  # a negotiated peer always has its transport
        for track_id, line in lines.items():
            track = self._subscribed.get(track_id)
            existing = self.downtracks.get(track_id)
            if track is None or (existing is not None and existing.line == line):
                continue
            if existing is not None:
                existing.close()
                self._feedback.remove(existing)
            downtrack = DownTrack(
                track.receiver,
                sink,
                line,
                initial_layer=self._config.default_layer,
                counters=self._config.counters,
                on_layer=functools.partial(self._layer_changed, track_id),
            )
            track.receiver.downtracks.append(downtrack)
            self._feedback.add(downtrack)
            self.downtracks[track_id] = downtrack
        self._negotiating = False
        self._offered_ms = -1
        if self._renegotiate:
            await self._negotiate()

    # lifecycle --------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Once a second: reports, allocation, which layers our publisher must encode, and the
        deadline of an unanswered subscribe offer."""
        self._expire_offer(now_ms)
        self._ingress.tick(now_ms)
        self.allocate(now_ms)
        for downtrack in self.downtracks.values():
            downtrack.tick(now_ms)
        for track in self.published.values():
            track.receiver.refresh_needed(now_ms)  # e.g. its last subscriber left

    def _send_dynacast(self, track_id: str, rids: list[str]) -> None:
        self.send(PublisherLayers(track_id=track_id, active=rids))

    def _layer_changed(self, track_id: str, downtrack: DownTrack) -> None:
        """Tell the subscriber which layer of a video it now gets (null: paused)."""
        if not downtrack.receiver.is_video:
            return
        current = downtrack.forwarder.current
        rids = downtrack.receiver.line.rids or ("",)
        self.send(
            SubscriptionLayer(
                track_id=track_id, layer=None if current == NO_LAYER else rids[current]
            )
        )

    def _expire_offer(self, now_ms: int) -> None:
        """A client that does not answer is stuck or gone: end its session (it may rejoin)."""
        timeout_s = self._config.answer_timeout_s
        if self._offered_ms < 0 or self._closing or now_ms - self._offered_ms < timeout_s * 1000:
            return
        self._closing = True
        self.disconnect(
            close_codes.OFFER_UNANSWERED, f"subscribe_offer not answered within {timeout_s:g} s"
        )

    def _media_state(self, state: str) -> None:
        """A media connection that failed or closed under us (ICE/DTLS failure, consent lost)
        ends the session: the client is told to rejoin, which gives it fresh connections."""
        if state in ("failed", "closed") and not self._closing:
            self._closing = True
            self.disconnect(close_codes.MEDIA_LOST, f"media connection {state}")

    async def close(self) -> None:
        self._closing = True
        for downtrack in self.downtracks.values():
            downtrack.close()
        self.downtracks.clear()
        if self._publish_peer is not None:
            await self._publish_peer.close()
        await self._subscribe_peer.close()
