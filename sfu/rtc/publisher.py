"""The publish half of a participant: the peer connection its tracks arrive on, and their
receivers (created at the first offer that carries them, kept until an offer stops them or the
participant leaves)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass

from cluster.models import new_id
from sfu.media.clock import monotonic_ms
from sfu.media.ingress import PublisherIngress
from sfu.media.receiver import TrackReceiver
from sfu.rtc.config import MediaConfig
from sfu.rtc.negotiation import NegotiationError
from sfu.webrtc.peer import IceCredentials, PublishPeer


@dataclass(frozen=True, slots=True)
class PublishedTrack:
    id: str
    receiver: TrackReceiver


@dataclass(frozen=True, slots=True)
class Answered:
    """A publish offer answered: what the client is told, and what changed."""

    sdp: str
    mids: dict[str, str]  # mid -> track id, of every track it sends
    new: list[PublishedTrack]
    gone: list[str]  # ids of the tracks it no longer sends (a stopped screen share)
    refused: list[str]  # why each m-line newly declined for its codecs is


class Publisher:
    def __init__(
        self,
        config: MediaConfig,
        *,
        on_layers: Callable[[str, list[str]], None],
        on_state: Callable[[str, str], None],
    ) -> None:
        """`on_layers(track_id, rids)`: the simulcast layers someone receives (dynacast);
        `on_state(state, failed_step)`: the peer connection's state changed."""
        self._config = config
        self._on_layers = on_layers
        self._on_state = on_state
        self._ingress = PublisherIngress(
            config.counters, remb_bps=config.remb_bps, repair=config.uplink_repair
        )
        self._peer: PublishPeer | None = None
        self.receivers: dict[str, TrackReceiver] = {}  # by track id
        self._repair_timer: asyncio.TimerHandle | None = None
        self._repair_at_ms = 0
        self._closed = False

    async def answer(self, offer: str) -> Answered:
        """Answer a publish offer: tracks on new m-lines start, those on m-lines the client
        stopped (or made inactive) end."""
        if self._peer is None:
            self._peer = PublishPeer(
                self._ingress,
                self._config.counters,
                start_kbps=self._config.start_bitrate_kbps,
                certificate=self._config.certificate,
                mux=self._config.mux,
            )
            self._peer.on_state(self._on_state)
        answer, lines, refused = await self._peer.answer(offer)
        self._ingress.sink = self._peer.sink
        sending = {line.mid for line in lines}
        gone = [t for t, r in self.receivers.items() if r.line.mid not in sending]
        for track_id in gone:
            self._ingress.remove_track(self.receivers.pop(track_id))
        known = {r.line.mid for r in self.receivers.values()}
        new = []
        for line in lines:
            if line.mid in known:
                continue
            track_id = new_id("TR")
            receiver = self._ingress.add_track(track_id, line)
            receiver.on_needed = functools.partial(self._on_layers, track_id)
            receiver.on_repair_due = self._repair_due
            self.receivers[track_id] = receiver
            new.append(PublishedTrack(track_id, receiver))
        mids = {r.line.mid: track_id for track_id, r in self.receivers.items()}
        return Answered(answer, mids, new, gone, refused)

    async def add_ice_candidate(
        self, candidate: str | None, mid: str | None, index: int | None
    ) -> None:
        if self._peer is None:
            raise NegotiationError("no publish connection yet: send publish_offer first")
        await self._peer.add_ice_candidate(candidate, mid, index)

    def restart_ice(self, remote_ufrag: str) -> IceCredentials | None:
        """Restart ICE with the client's new ufrag; our new credentials, or None if there is
        nothing to restart (see `PublishPeer.restart_ice`)."""
        return None if self._peer is None else self._peer.restart_ice(remote_ufrag)

    def tick(self, now_ms: int, round_trip_ms: int | None = None) -> None:
        """Receiver reports and REMB to the publisher, and which layers it must encode.
        ``round_trip_ms``: to the participant, as its subscribe connection measured it (the
        same client on the same network), for the pace of NACK retries."""
        self._ingress.tick(now_ms)
        for receiver in self.receivers.values():
            receiver.refresh_needed(now_ms)  # e.g. its last subscriber left, a switch is done
            if round_trip_ms is not None:
                receiver.round_trip_ms = round_trip_ms

    def _repair_due(self, due_ms: int) -> None:
        """A receiver has NACKs due at ``due_ms``: one timer for the connection, at the
        earliest."""
        if self._closed:
            return
        if self._repair_timer is not None:
            if self._repair_at_ms <= due_ms:
                return
            self._repair_timer.cancel()
        self._repair_at_ms = due_ms
        delay_s = max(0, due_ms - monotonic_ms()) / 1000
        self._repair_timer = asyncio.get_running_loop().call_later(delay_s, self._repair)

    def _repair(self) -> None:
        self._repair_timer = None
        now_ms = monotonic_ms()
        for receiver in list(self.receivers.values()):
            receiver.repair(now_ms)  # each arms the timer again for what stays due

    async def close(self) -> None:
        self._closed = True
        if self._repair_timer is not None:
            self._repair_timer.cancel()
            self._repair_timer = None
        if self._peer is not None:
            await self._peer.close()
