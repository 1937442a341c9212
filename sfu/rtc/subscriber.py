"""The subscribe half of a participant: the peer connection everyone else's tracks go out on,
offered by the node one m-line per track, and renegotiated as tracks come and go. Down tracks,
feedback and allocation are ``Downlink``'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sfu.media.clock import monotonic_ms
from sfu.rtc.config import MediaConfig
from sfu.rtc.downlink import Downlink, T, codec_of
from sfu.rtc.negotiation import Negotiation, NegotiationError
from sfu.webrtc.codecs import Codec, CodecCapability, decodes
from sfu.webrtc.peer import SubscribePeer


class Subscriber(Downlink[T]):
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
        `on_state(state, failed_step)`: the peer connection's state changed;
        `decoded`: the codecs the client said it decodes (None: all we forward); a track in
        another one is not sent, and `on_undecodable(track, codec)` is told (an offer with it
        would fail the client's whole answer); the rest as ``Downlink``'s."""
        super().__init__(config, on_layer=on_layer, on_downlink=on_downlink)
        self._on_offer = on_offer
        self._decoded = decoded
        self._on_undecodable = on_undecodable
        self._peer = SubscribePeer(
            self._feedback,
            config.counters,
            certificate=config.certificate,
            mux=config.mux,
            transport_cc=config.transport_cc,
        )
        self._peer.on_state(on_state)
        self._negotiation = Negotiation(config.answer_timeout_s)

    async def subscribe(self, tracks: list[T]) -> None:
        """Receive these tracks (one renegotiation for all of them)."""
        new = []
        for track in tracks:
            codec = codec_of(track)
            if track.id in self._subscribed:
                continue
            if self._decoded is not None and not decodes(self._decoded, codec):
                self._on_undecodable(track, codec)
                continue
            new.append(track)
            self._add(track)
            self._peer.add_track(track.id, track.stream_id, track.kind, codec)
        if new:
            await self._negotiate()

    @property
    def subscribed(self) -> list[str]:
        """The ids of the tracks it receives (or is about to)."""
        return list(self._subscribed)

    async def unsubscribe(self, track_ids: list[str]) -> None:
        """Stop receiving these tracks (one renegotiation for all of them)."""
        gone = [t for t in track_ids if self._forget(t)]
        for track_id in gone:
            self._peer.remove_track(track_id)
        if gone:
            await self._negotiate()

    async def apply_answer(self, answer: str) -> None:
        if not self._negotiation.in_flight:
            raise NegotiationError("no subscribe_offer is waiting for an answer")
        lines = await self._peer.apply_answer(answer)
        sink = self._peer.sink
        assert sink is not None  # a negotiated peer always has its transport
        self._stamp(lines.values(), self._peer.send_log)
        for track_id, line in lines.items():
            existing = self.downtracks.get(track_id)
            if track_id in self._subscribed and (existing is None or existing.line != line):
                self._bind(track_id, sink, line)
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

    def unanswered(self, now_ms: int) -> float | None:
        """The answer timeout, if the offer in flight went unanswered past it (the client is
        stuck or gone); else None."""
        expired = not self._closed and self._negotiation.expired(now_ms)
        return self._negotiation.timeout_s if expired else None

    async def close(self) -> None:
        self._close_downtracks()
        await self._peer.close()

    async def _negotiate(self) -> None:
        if self._closed or not self._negotiation.start():
            return  # closed: nothing to offer; in flight: folded into the next offer
        sdp, mids = await self._peer.create_offer()
        self._on_offer(sdp, {mid: self._subscribed[track_id] for track_id, mid in mids.items()})
        self._negotiation.offered(monotonic_ms())
