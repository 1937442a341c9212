"""What a WHIP and a WHEP session share as a room member (a `MemberHandle`): one media half
(a publisher or a player) set up by one HTTP offer, and how the session ends: DELETE, its media
connection failing or closing (no ICE consent for the node's consent timeout), the room closing
or removing it, the same identity joining again anywhere on the node."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, NoReturn, Protocol, TypeVar

from cluster.tokens import JoinClaims
from sfu.rooms.events import MemberLeft, RoomEvent
from sfu.rooms.member import Member
from sfu.rooms.room import Room
from sfu.rtc.negotiation import NegotiationError
from sfu.signaling.admission import Refusal, replace_identity
from sfu.webrtc.peer import CodecError, IceCredentials, SdpError
from sfu.whip.resource import Candidate, HttpError, refused

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Admission:
    """A verified token and how the node admits it: once before its offer is answered (so a
    refusal costs nothing), and again right before it joins, since the node drops a room that
    stays empty meanwhile."""

    admit: Callable[[JoinClaims], Awaitable[Room | Refusal]]
    claims: JoinClaims

    async def room(self) -> Room:
        """The token's room, or the refusal as an HttpError."""
        room = await self.admit(self.claims)
        if isinstance(room, Refusal):
            raise refused(room)
        return room


async def admitted(admission: Admission, *, hidden: bool = False) -> tuple[Room, Member]:
    """The token's room and its member (``hidden``: in no one's roster, whatever the token
    says), or the refusal as an HttpError."""
    return await admission.room(), Member.of_claims(admission.claims, hidden=hidden)


class MediaHalf(Protocol):
    """A ``Publisher`` or a ``Player``, as its HTTP session uses it."""

    async def add_ice_candidate(
        self, candidate: str | None, mid: str | None, index: int | None
    ) -> None: ...

    def restart_ice(self, remote_ufrag: str) -> IceCredentials | None: ...

    def tick(self, now_ms: int) -> None: ...

    async def close(self) -> None: ...


H = TypeVar("H", bound=MediaHalf)


class HttpMember(Generic[H]):
    """``half(on_state)`` makes the media half, reporting its connection's state there."""

    label = "WHIP"  # for the log

    def __init__(
        self,
        admission: Admission,
        room: Room,
        member: Member,
        half: Callable[[Callable[[str, str], None]], H],
        on_end: Callable[[], None],
    ) -> None:
        self._admission = admission
        self.room = room
        self._member = member
        self._on_end = on_end
        self._ending = False
        self._leaving: asyncio.Task[None] | None = None
        self.half = half(self._media_state)

    @property
    def member(self) -> Member:
        return self._member

    async def opened(self, answering: Awaitable[str]) -> tuple[HttpMember[H], str]:
        """This session and its answer (``answering``: its start); a start that fails leaves
        nothing behind, in the room or on the port."""
        try:
            return self, await answering
        except BaseException:
            self._ending = True
            await self.room.leave(self._member)  # if it got in
            await self.half.close()
            raise

    @staticmethod
    def _refuse(exc: SdpError) -> NoReturn:
        """The offer cannot be answered: 406 without a codec we forward, else 400."""
        raise HttpError(406 if isinstance(exc, CodecError) else 400, str(exc)) from None

    async def _enter(self) -> None:
        """Join the room (admitted again: see ``Admission``), replacing an older member of the
        identity."""
        self.room = await self._admission.room()
        await replace_identity(self.room, self._member.identity)
        await self.room.join(self._member, self)

    async def trickle(self, candidates: Sequence[Candidate]) -> None:
        """Ignored on the node's ICE-lite port, which learns addresses from the checks."""
        for mid, candidate in candidates:
            try:
                await self.half.add_ice_candidate(candidate, mid, None)
            except (SdpError, NegotiationError) as exc:
                raise HttpError(400, str(exc)) from None

    def restart_ice(self, ufrag: str) -> IceCredentials | None:
        return self.half.restart_ice(ufrag)

    def tick(self, now_ms: int) -> None:
        self.half.tick(now_ms)

    async def end(self) -> None:
        await self.room.leave(self._member)

    # MemberHandle

    async def room_event(self, event: RoomEvent) -> None:
        if isinstance(event, MemberLeft) and event.member is self._member:
            await self._close()

    def disconnect(self, code: int, reason: str) -> None:
        """Removed (the room closes, the identity joined again...): the room's `leave`
        follows, whose event closes the media."""
        logger.info(
            "%s %s in %s: %s (%d)", self.label, self._member.identity, self.room.name, reason, code
        )

    def _media_state(self, state: str, failed_step: str) -> None:
        """A connection that failed (no consent) or closed ends the session."""
        if state not in ("failed", "closed") or self._ending or self._leaving is not None:
            return
        why = f"media connection {state}" + (f": {failed_step}" if failed_step else "")
        logger.info("%s %s in %s: %s", self.label, self._member.identity, self.room.name, why)
        self._leaving = asyncio.create_task(self.end())

    async def _close(self) -> None:
        if self._ending:
            return
        self._ending = True
        await self.half.close()
        self._on_end()
