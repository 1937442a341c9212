"""WHIP ingest: one HTTP offer publishes its audio and video as a room member whose identity is
the token's, seen by everyone like any participant (docs/whip.md).

The member ends with DELETE, when its media connection fails or closes (no ICE consent for the
node's consent timeout), when the room closes or it is removed, and when the same identity
joins again anywhere on the node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from cluster.tokens import JoinClaims, JoinGrants
from sfu.rooms.events import MemberLeft, RoomEvent
from sfu.rooms.member import Member
from sfu.rooms.room import Room
from sfu.rtc.config import MediaConfig
from sfu.rtc.negotiation import NegotiationError
from sfu.rtc.publisher import Publisher
from sfu.signaling import close_codes
from sfu.signaling.admission import Refusal
from sfu.signaling.participant import new_tracks
from sfu.webrtc.peer import CodecError, IceCredentials, SdpError
from sfu.whip.resource import Candidate, HttpError, Session, Start, refused

logger = logging.getLogger(__name__)


def refuse(grants: JoinGrants) -> str | None:
    """Why a token may not publish over WHIP (answered 403), or None."""
    if not grants.publish:
        return "the token does not allow publishing"
    if grants.hidden:
        return "a hidden member publishes nothing"
    return None


class WhipPublisher:
    """A WHIP session's room member (`MemberHandle`): it publishes and subscribes to nothing, so
    room events matter to it only when it is the one leaving."""

    def __init__(
        self, room: Room, member: Member, config: MediaConfig, on_end: Callable[[], None]
    ) -> None:
        self.room = room
        self._member = member
        self._on_end = on_end
        self._ending = False
        self._leaving: asyncio.Task[None] | None = None
        self.publisher = Publisher(config, on_layers=lambda *_: None, on_state=self._media_state)

    @property
    def member(self) -> Member:
        return self._member

    async def start(self, offer: str) -> str:
        """Answer the offer, then enter the room (replacing an older member of the identity)
        with its tracks; 400 for an offer that cannot be answered, 406 without a codec we
        forward."""
        try:
            answered = await self.publisher.answer(offer)
        except SdpError as exc:
            self._ending = True
            await self.publisher.close()
            raise HttpError(406 if isinstance(exc, CodecError) else 400, str(exc)) from None
        identity = self._member.identity
        for why in answered.refused:
            logger.info("WHIP %s: m-line rejected: %s", identity, why)
        tracks, problems = new_tracks(self._member, answered.new, {})
        for _, why in problems:
            logger.info("WHIP %s: %s", identity, why)
        previous = self.room.members.get(identity)
        if previous is not None:
            await self.room.remove(previous, close_codes.REPLACED, "joined again elsewhere")
        await self.room.join(self._member, self)
        await self.room.publish(self._member, tracks)
        return answered.sdp

    async def trickle(self, candidates: Sequence[Candidate]) -> None:
        """Ignored on the node's ICE-lite port, which learns addresses from the checks."""
        for mid, candidate in candidates:
            try:
                await self.publisher.add_ice_candidate(candidate, mid, None)
            except (SdpError, NegotiationError) as exc:
                raise HttpError(400, str(exc)) from None

    def restart_ice(self, ufrag: str) -> IceCredentials | None:
        return self.publisher.restart_ice(ufrag)

    def tick(self, now_ms: int) -> None:
        self.publisher.tick(now_ms)

    async def end(self) -> None:
        await self.room.leave(self._member)

    # MemberHandle

    async def room_event(self, event: RoomEvent) -> None:
        if isinstance(event, MemberLeft) and event.member is self._member:
            await self._close()

    def disconnect(self, code: int, reason: str) -> None:
        """Removed (the room closes, the identity joined again...): the room's `leave`
        follows, whose event closes the media."""
        logger.info("WHIP %s in %s: %s (%d)", self._member.identity, self.room.name, reason, code)

    def _media_state(self, state: str, failed_step: str) -> None:
        """A connection that failed (no consent) or closed ends the session."""
        if state not in ("failed", "closed") or self._ending or self._leaving is not None:
            return
        why = f"media connection {state}" + (f": {failed_step}" if failed_step else "")
        logger.info("WHIP %s in %s: %s", self._member.identity, self.room.name, why)
        self._leaving = asyncio.create_task(self.end())

    async def _close(self) -> None:
        if self._ending:
            return
        self._ending = True
        await self.publisher.close()
        self._on_end()


def whip_start(
    admit: Callable[[JoinClaims], Awaitable[Room | Refusal]],
    config: MediaConfig,
) -> Start:
    """The WHIP endpoint's ``start``: admit the token to its room, publish the offer there."""

    async def start(
        claims: JoinClaims, offer: str, on_end: Callable[[], None]
    ) -> tuple[Session, str]:
        room = await admit(claims)
        if isinstance(room, Refusal):
            raise refused(room)
        member = Member(
            identity=claims.identity,
            name=claims.name or claims.identity,
            grants=claims.grants,
            metadata=claims.metadata,
            attributes=dict(claims.attributes),
        )
        session = WhipPublisher(room, member, config, on_end)
        return session, await session.start(offer)

    return start
