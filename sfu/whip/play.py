"""WHEP egress: one HTTP offer of recvonly m-lines plays a room, or one participant of it, as a
hidden member of the room (docs/whip.md). It ends as any ``HttpMember`` does.

A player cannot renegotiate, so what it gets changes on the m-lines of its offer (one video,
one audio): in a room, the video is the shared screen if any, else the camera of whoever has the
floor (the dominant speaker), else the one it already gets, else the first camera; the audio is
the dominant speaker's microphone, else the one it already gets, else the first. With
``?participant=<identity>``: that participant's camera and microphone (or its screen and its
audio if it shares only those). A new source starts at its keyframe and continues the m-line's
numbering. Only tracks in the codec answered at the start are played.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

from cluster.tokens import JoinClaims, JoinGrants
from sfu.media.clock import monotonic_ms
from sfu.media.description import Kind
from sfu.rooms.events import (
    MemberJoined,
    MemberLeft,
    RoomEvent,
    SpeakersChanged,
    TracksPublished,
    TracksUnpublished,
)
from sfu.rooms.member import CAPTURES, Member, Track
from sfu.rooms.room import Room
from sfu.rtc.config import MediaConfig
from sfu.rtc.player import Player
from sfu.signaling.admission import Refusal
from sfu.webrtc.peer import SdpError
from sfu.whip.member import Admission, HttpMember, admitted
from sfu.whip.resource import Session, Start

KINDS: tuple[Kind, ...] = ("video", "audio")


def refuse(grants: JoinGrants) -> str | None:
    """Why a token may not play over WHEP (answered 403), or None."""
    return None if grants.subscribe else "the token does not allow subscribing"


def choose(
    tracks: Sequence[Track],
    kind: Kind,
    *,
    current: Track | None,
    floor: Member | None,
    participant: str | None,
) -> Track | None:
    """The track of ``kind`` to play among ``tracks`` (those the player can receive), as the
    module says; ``floor``: who has it; ``current``: the track played now."""
    mine = [t for t in tracks if t.kind == kind]
    if participant is not None:
        theirs = [t for t in mine if t.publisher.identity == participant]
        return min(theirs, key=lambda t: CAPTURES[kind].index(t.capture), default=None)
    screens = [t for t in mine if t.screen and t.kind == "video"]
    speaking = [t for t in mine if t.publisher is floor and not t.screen]
    for preferred in (screens, speaking):
        if preferred:
            return current if current in preferred else preferred[0]
    if current in mine:
        return current
    return mine[0] if mine else None


class WhepPlayer(HttpMember[Player[Track]]):
    label = "WHEP"

    def __init__(
        self,
        admission: Admission,
        room: Room,
        member: Member,
        config: MediaConfig,
        participant: str | None,
        on_end: Callable[[], None],
    ) -> None:
        """``participant``: the identity whose tracks it plays, None for the room."""
        super().__init__(
            admission, room, member, lambda on_state: Player(config, on_state=on_state), on_end
        )
        self._participant = participant

    async def start(self, offer: str) -> str:
        """Answer the offer (in the codecs of the tracks it would get now, if it offered them),
        then enter the room, which starts them; 400 for an offer that cannot be answered, 406
        without a codec we forward."""
        tracks = self.room.tracks(besides=self.member)
        first = {kind: self._choice(tracks, kind) for kind in KINDS}
        try:
            answer = await self.half.answer(
                offer, {kind: track for kind, track in first.items() if track is not None}
            )
        except SdpError as exc:
            self._refuse(exc)
        await self._enter()
        return answer

    def _choice(self, tracks: Sequence[Track], kind: Kind) -> Track | None:
        floor = self.room.speakers.dominant
        return choose(
            tracks,
            kind,
            current=self.half.playing.get(kind),
            floor=floor.publisher if floor is not None else None,
            participant=self._participant,
        )

    def _play(self, gone: Collection[Track] = ()) -> None:
        """Play what the room has now on each m-line (``gone``: tracks that just ended)."""
        tracks = [
            t for t in self.room.tracks(besides=self.member) if t not in gone and self.half.plays(t)
        ]
        now_ms = monotonic_ms()
        for kind in self.half.kinds:
            self.half.play(kind, self._choice(tracks, kind), now_ms)

    # MemberHandle

    async def room_event(self, event: RoomEvent) -> None:
        match event:
            case MemberLeft(member=left) if left is self.member:
                await self._close()
            case MemberLeft(tracks=gone) | TracksUnpublished(tracks=gone):
                self._play(gone)
            case MemberJoined(member=joined) if joined is self.member:
                self._play()
            case TracksPublished() | SpeakersChanged():
                self._play()


def whep_start(
    admit: Callable[[JoinClaims], Awaitable[Room | Refusal]],
    config: MediaConfig,
) -> Start:
    """The WHEP endpoint's ``start``: admit the token to its room as a hidden member, play it
    (or ``?participant=``) to the offer."""

    async def start(
        claims: JoinClaims, offer: str, query: Mapping[str, str], on_end: Callable[[], None]
    ) -> tuple[Session, str]:
        admission = Admission(admit, claims)
        room, member = await admitted(admission, hidden=True)
        session = WhepPlayer(admission, room, member, config, query.get("participant"), on_end)
        return await session.opened(session.start(offer))

    return start
