"""WHIP ingest: one HTTP offer publishes its audio and video as a room member whose identity is
the token's, seen by everyone like any participant (docs/whip.md). It ends as any
``HttpMember`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from cluster.tokens import JoinClaims, JoinGrants
from sfu.rooms.member import Member
from sfu.rooms.room import Room
from sfu.rtc.config import MediaConfig
from sfu.rtc.publisher import Publisher
from sfu.signaling.admission import Refusal
from sfu.signaling.participant import new_tracks
from sfu.webrtc.peer import SdpError
from sfu.whip.member import Admission, HttpMember, admitted
from sfu.whip.resource import Session, Start

logger = logging.getLogger(__name__)


def refuse(grants: JoinGrants) -> str | None:
    """Why a token may not publish over WHIP (answered 403), or None."""
    if not grants.publish:
        return "the token does not allow publishing"
    if grants.hidden:
        return "a hidden member publishes nothing"
    return None


class WhipPublisher(HttpMember[Publisher]):
    """A WHIP session's room member: it publishes and subscribes to nothing, so room events
    matter to it only when it is the one leaving."""

    def __init__(
        self,
        admission: Admission,
        room: Room,
        member: Member,
        config: MediaConfig,
        on_end: Callable[[], None],
    ) -> None:
        super().__init__(
            admission,
            room,
            member,
            lambda on_state: Publisher(config, on_layers=lambda *_: None, on_state=on_state),
            on_end,
        )

    async def start(self, offer: str) -> str:
        """Answer the offer, then enter the room with its tracks; 400 for an offer that cannot
        be answered, 406 without a codec we forward."""
        try:
            answered = await self.half.answer(offer)
        except SdpError as exc:
            self._refuse(exc)
        identity = self.member.identity
        for why in answered.refused:
            logger.info("WHIP %s: m-line rejected: %s", identity, why)
        tracks, problems = new_tracks(self.member, answered.new, {})
        for _, why in problems:
            logger.info("WHIP %s: %s", identity, why)
        await self._enter()
        await self.room.publish(self.member, tracks)
        return answered.sdp


def whip_start(
    admit: Callable[[JoinClaims], Awaitable[Room | Refusal]],
    config: MediaConfig,
) -> Start:
    """The WHIP endpoint's ``start``: admit the token to its room, publish the offer there."""

    async def start(
        claims: JoinClaims, offer: str, query: Mapping[str, str], on_end: Callable[[], None]
    ) -> tuple[Session, str]:
        admission = Admission(admit, claims)
        room, member = await admitted(admission)
        session = WhipPublisher(admission, room, member, config, on_end)
        return await session.opened(session.start(offer))

    return start
