"""Whether a verified join token may enter a room on this node: decided from what the store
says now (`Admission`), so that removals, deletions and room moves stick.

A pure function of its inputs; the node reads the store and acts on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.models import Admission
from cluster.tokens import JoinClaims
from sfu.rooms.room import Room
from sfu.signaling import close_codes


@dataclass(frozen=True, slots=True)
class Refusal:
    """Close the signaling socket with `code` and `reason`."""

    code: int
    reason: str


def refusal(admission: Admission, claims: JoinClaims, node_id: str) -> Refusal | None:
    """None if the join may go on; else why not, as the client should hear it."""
    room = admission.room
    if room is None:
        return Refusal(close_codes.ROOM_NOT_FOUND, f"room {claims.room!r} does not exist")
    if room.id != claims.room_id:
        return Refusal(close_codes.BAD_TOKEN, "token is for an earlier room of that name")
    if claims.generation < admission.generation:
        return Refusal(close_codes.REMOVED, "removed from the room: this token was revoked")
    if admission.node_id != node_id:
        return Refusal(close_codes.ELSEWHERE, "room is hosted by another node: ask for a token")
    return None


async def replace_identity(room: Room, identity: str) -> None:
    """One session per identity: an older member of it (another connection, a tap, a WHIP or
    WHEP session) is ended before the new one joins."""
    previous = room.members.get(identity)
    if previous is not None:
        await room.remove(previous, close_codes.REPLACED, "joined again from another connection")
