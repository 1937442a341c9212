"""The answering subscribe half, for a WHEP player: it offers recvonly m-lines (one of each kind
is used) and cannot renegotiate, so the tracks it gets are played on those m-lines, each taking
over from the one before at its first keyframe (numbered on from it; the one before goes on
until then, so a switch shows no freeze). Down tracks, feedback and allocation are
``Downlink``'s, as for any subscriber."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sfu.media.description import Kind, MediaLine
from sfu.media.downtrack import DownTrack
from sfu.media.receiver import TrackReceiver
from sfu.media.selector import NO_LAYER
from sfu.rtc.config import MediaConfig
from sfu.rtc.downlink import Downlink, T, codec_of
from sfu.webrtc.codecs import Codec, same_codec
from sfu.webrtc.peer import IceCredentials, PlayPeer

# The player's size is unknown: its video gets the top layer its bandwidth allows
PLAYER_QUALITY = "high"


class Player(Downlink[T]):
    def __init__(
        self,
        config: MediaConfig,
        *,
        on_state: Callable[[str, str], None],
        on_layer: Callable[[str, str | None], None] = lambda track_id, rid: None,
        on_downlink: Callable[[int, bool], None] = lambda bps, send_side: None,
    ) -> None:
        """`on_state(state, failed_step)`: the peer connection's state changed; the rest as
        ``Downlink``'s."""
        super().__init__(config, on_layer=on_layer, on_downlink=on_downlink)
        self._peer = PlayPeer(
            self._feedback,
            config.counters,
            certificate=config.certificate,
            mux=config.mux,
            transport_cc=config.transport_cc,
        )
        self._peer.on_state(on_state)
        self._lines: dict[Kind, MediaLine] = {}
        self.playing: dict[Kind, T] = {}  # chosen for each m-line
        self._sending: dict[Kind, T] = {}  # sent on it now: the chosen one once it started
        # the last down track of each m-line, whose numbering the next one goes on from
        self._last: dict[Kind, DownTrack[TrackReceiver]] = {}

    async def answer(self, offer: str, prefer: Mapping[Kind, T]) -> str:
        """Answer the player's offer, in the codecs of the tracks it will get first if it
        offered them (those of other tracks must then match: there is no renegotiation)."""
        sdp, self._lines = await self._peer.answer(
            offer, {kind: codec_of(track) for kind, track in prefer.items()}
        )
        self._stamp(self._lines.values(), self._peer.send_log)
        return sdp

    @property
    def kinds(self) -> list[Kind]:
        """The kinds it receives (one m-line each)."""
        return list(self._lines)

    def plays(self, track: T) -> bool:
        """Whether ``track`` fits an m-line of the player (its kind, in the codec answered)."""
        line = self._lines.get(track.kind)
        return line is not None and same_codec(codec_of(track), Codec(line.mime, line.profile))

    def play(self, kind: Kind, track: T | None, now_ms: int) -> None:
        """Send ``track`` on the m-line of ``kind`` in place of the one sent (None: nothing):
        the one sent goes on until ``track``'s first keyframe."""
        chosen, sending = self.playing.get(kind), self._sending.get(kind)
        if chosen is track or kind not in self._lines:
            return
        if chosen is not None and chosen is not sending:
            self._forget(chosen.id)  # chosen before, never started
        if track is None:
            self.playing.pop(kind, None)
            if sending is not None:
                self._forget(self._sending.pop(kind).id)
        elif track is sending:
            self.playing[kind] = track  # back to the one still sent
        else:
            sink = self._peer.sink
            assert sink is not None  # answered: the transport exists
            assert self.plays(track), f"{track.id} does not fit the player's {kind} m-line"
            self.playing[kind] = track
            self._add(track, PLAYER_QUALITY)
            self._bind(track.id, sink, self._lines[kind], continues=self._last.get(kind))
        self.allocate(now_ms)

    def _layer_changed(self, track_id: str, downtrack: DownTrack[TrackReceiver]) -> None:
        """A chosen track's first keyframe (not a pause): it takes over its m-line, and its
        feedback, from the one sent."""
        kind = downtrack.receiver.line.kind
        chosen = self.playing.get(kind)
        takes_over = (
            chosen is not None
            and chosen.id == track_id
            and self._sending.get(kind) is not chosen
            and downtrack.forwarder.current != NO_LAYER
        )
        if takes_over:
            assert chosen is not None
            if (sending := self._sending.get(kind)) is not None:
                self._forget(sending.id)
            self._feedback.add(downtrack)
            self._sending[kind] = chosen
            self._last[kind] = downtrack
        super()._layer_changed(track_id, downtrack)

    async def add_ice_candidate(
        self, candidate: str | None, mid: str | None, index: int | None
    ) -> None:
        await self._peer.add_ice_candidate(candidate, mid, index)

    def restart_ice(self, remote_ufrag: str) -> IceCredentials | None:
        """Restart ICE with the player's new ufrag (its PATCH); our new credentials, or None if
        there is nothing to restart (see ``PlayPeer.restart_ice``)."""
        return self._peer.restart_ice(remote_ufrag)

    async def close(self) -> None:
        self._close_downtracks()
        await self._peer.close()
