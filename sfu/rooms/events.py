"""What a room tells its members, through each member's `MemberHandle`: their connections
turn events into messages and media; the room knows nothing of WebRTC or wire messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sfu.media.speakers import Speakers
from sfu.rooms.member import Member, Track


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """Everyone is told, the newcomer last (it then receives the room's tracks)."""

    member: Member


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """Everyone else is told, then the leaver itself (it then closes its media)."""

    member: Member
    tracks: tuple[Track, ...]


@dataclass(frozen=True, slots=True)
class TracksPublished:
    """Told to everyone but the publisher: one renegotiation for all of the tracks."""

    tracks: tuple[Track, ...]


@dataclass(frozen=True, slots=True)
class TracksUnpublished:
    """Told to everyone but the publisher: these tracks ended (a stopped screen share)."""

    tracks: tuple[Track, ...]


@dataclass(frozen=True, slots=True)
class GrantsChanged:
    """Told to the member whose grants the control plane changed (its tracks no longer allowed
    were unpublished just before, and told to everyone)."""

    member: Member


@dataclass(frozen=True, slots=True)
class MemberUpdated:
    """A member's name, metadata or attributes changed (by itself or the REST API); told to
    everyone, the member too."""

    member: Member


@dataclass(frozen=True, slots=True)
class TrackMuted:
    """A track was (un)muted. `enforced`: its media was paused or resumed here, so every
    subscriber re-allocates; a mute by the server is told to the publisher too."""

    track: Track
    by_server: bool
    enforced: bool


@dataclass(frozen=True, slots=True)
class SpeakersChanged:
    """Who speaks (audio tracks, loudest first) or who has the floor changed, or their levels
    moved (at most once a second); told to everyone, the speakers too."""

    speakers: Speakers[Track]


@dataclass(frozen=True, slots=True)
class DataSent:
    """A member's data message, told to its recipients only (never back to the sender).
    `at_ms`: when the node took it (wall clock); `reliable` false: may be dropped first."""

    sender: Member
    payload: str
    topic: str | None
    reliable: bool
    at_ms: int


RoomEvent = (
    MemberJoined
    | MemberLeft
    | TracksPublished
    | TracksUnpublished
    | GrantsChanged
    | MemberUpdated
    | TrackMuted
    | SpeakersChanged
    | DataSent
)


class MemberHandle(Protocol):
    """A member's connection, as its room sees it."""

    async def room_event(self, event: RoomEvent) -> None:
        """Something changed in the room (the member's own leave comes last to itself)."""

    def disconnect(self, code: int, reason: str) -> None:
        """End the member's session with a close code and a reason for its client."""
