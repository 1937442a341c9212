"""The publish half of a participant: the peer connection its tracks arrive on, and their
receivers (created at the first offer that carries them, kept until the participant leaves)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from cluster.models import new_id
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.rtc.config import MediaConfig
from sfu.rtc.negotiation import NegotiationError
from sfu.webrtc.peer import PublishPeer


@dataclass(frozen=True, slots=True)
class PublishedTrack:
    id: str
    receiver: TrackReceiver


class Publisher:
    def __init__(
        self,
        config: MediaConfig,
        *,
        on_layers: Callable[[str, list[str]], None],
        on_state: Callable[[str], None],
    ) -> None:
        """`on_layers(track_id, rids)`: the simulcast layers someone receives (dynacast);
        `on_state(state)`: the peer connection's state changed."""
        self._config = config
        self._on_layers = on_layers
        self._on_state = on_state
        self._ingress = PublisherIngress(config.counters, remb_bps=config.remb_bps)
        self._peer: PublishPeer | None = None
        self.receivers: dict[str, TrackReceiver] = {}  # by track id

    async def answer(self, offer: str) -> tuple[str, dict[str, str], list[PublishedTrack]]:
        """Answer a publish offer; return the answer, mid → track id, and the new tracks."""
        if self._peer is None:
            self._peer = PublishPeer(
                self._ingress,
                self._config.counters,
                start_kbps=self._config.start_bitrate_kbps,
                certificate=self._config.certificate,
                mux=self._config.mux,
            )
            self._peer.on_state(self._on_state)
        answer, lines = await self._peer.answer(offer)
        self._ingress.sink = self._peer.sink
        known = {r.line.mid for r in self.receivers.values()}
        new = []
        for line in lines:
            if line.mid in known:
                continue
            track_id = new_id("TR")
            receiver = self._ingress.add_track(track_id, line)
            receiver.on_needed = functools.partial(self._on_layers, track_id)
            self.receivers[track_id] = receiver
            new.append(PublishedTrack(track_id, receiver))
        mids = {r.line.mid: track_id for track_id, r in self.receivers.items()}
        return answer, mids, new

    async def add_ice_candidate(
        self, candidate: str | None, mid: str | None, index: int | None
    ) -> None:
        if self._peer is None:
            raise NegotiationError("no publish connection yet: send publish_offer first")
        await self._peer.add_ice_candidate(candidate, mid, index)

    def tick(self, now_ms: int) -> None:
        """Receiver reports and REMB to the publisher, and which layers it must encode."""
        self._ingress.tick(now_ms)
        for receiver in self.receivers.values():
            receiver.refresh_needed(now_ms)  # e.g. its last subscriber left

    async def close(self) -> None:
        if self._peer is not None:
            await self._peer.close()
