"""A room on this node: who is in it, what they publish and may do, told to every member.

Every change is an event handed to each member's `MemberHandle` in turn; a member whose
handling fails is logged and does not stop the others being told.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from cluster.metadata import MetadataUpdate
from cluster.tokens import JoinGrants
from sfu.media.speakers import SpeakerDetector, Speakers, due
from sfu.rooms.events import (
    DataSent,
    GrantsChanged,
    MemberHandle,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    RoomEvent,
    SpeakersChanged,
    TrackMuted,
    TracksPublished,
    TracksUnpublished,
)
from sfu.rooms.member import Member, Track

logger = logging.getLogger(__name__)


class RoomObserver(Protocol):
    """Told of every change the control plane should know about (the node's presence)."""

    def member_changed(self, room: str, member: Member) -> None: ...

    def member_left(self, room: str, member: Member) -> None: ...


class Room:
    def __init__(self, name: str, observer: RoomObserver) -> None:
        self.name = name
        self.members: dict[str, Member] = {}
        self._handles: dict[str, MemberHandle] = {}  # by member sid
        self._observer = observer
        self._detector: SpeakerDetector[Track] = SpeakerDetector()
        self.speakers: Speakers[Track] = Speakers()  # as last told to the members
        self._speakers_told_ms = 0

    def handle(self, member: Member) -> MemberHandle:
        return self._handles[member.sid]

    def tracks(self, *, besides: Member) -> list[Track]:
        """Everything published in the room by others than `besides`."""
        return [t for m in self.members.values() if m is not besides for t in m.tracks.values()]

    async def join(self, member: Member, handle: MemberHandle) -> None:
        """Add a member (the caller has removed any older one with the same identity)."""
        self.members[member.identity] = member
        self._handles[member.sid] = handle
        self._observer.member_changed(self.name, member)
        await self._tell([*self._others(member), member], MemberJoined(member))
        if self.speakers.active:  # told on change only: a newcomer learns who speaks now
            await self._tell([member], SpeakersChanged(self.speakers))
        logger.info("room %s: %s joined (%d in room)", self.name, member.identity, len(self))

    async def leave(self, member: Member) -> None:
        if self.members.get(member.identity) is not member:
            return
        del self.members[member.identity]
        self._observer.member_left(self.name, member)
        event = MemberLeft(member, tuple(member.tracks.values()))
        try:
            await self._tell(self._others(member), event)
        finally:
            await self._tell([member], event)
            del self._handles[member.sid]
        logger.info("room %s: %s left (%d in room)", self.name, member.identity, len(self))

    async def remove(self, member: Member, code: int, reason: str) -> None:
        """End a member's session with a close code and reason, and take it out now."""
        self.handle(member).disconnect(code, reason)
        await self.leave(member)

    async def publish(self, member: Member, tracks: Sequence[Track]) -> None:
        """New tracks of a member: everyone else receives them."""
        if not tracks:
            return
        for track in tracks:
            member.tracks[track.id] = track
        self._observer.member_changed(self.name, member)
        await self._tell(self._others(member), TracksPublished(tuple(tracks)))

    async def unpublish(
        self, member: Member, track_ids: Sequence[str], *, by_server: bool = False
    ) -> None:
        """Tracks a member stopped: everyone else stops receiving them. Stopped by the server
        (its grants changed), the member is told too, and its client stops sending them."""
        tracks = tuple(t for i in track_ids if (t := member.tracks.pop(i, None)) is not None)
        if not tracks:
            return
        self._observer.member_changed(self.name, member)
        told = list(self.members.values()) if by_server else self._others(member)
        await self._tell(told, TracksUnpublished(tracks))

    async def regrant(self, member: Member, grants: JoinGrants) -> None:
        """New grants for a member (the REST API): what it may no longer publish is stopped."""
        member.grants = grants
        stopped = [t.id for t in member.tracks.values() if not member.may_publish(t.capture)]
        await self.unpublish(member, stopped, by_server=True)
        await self._tell([member], GrantsChanged(member))

    async def update(self, member: Member, update: MetadataUpdate) -> None:
        """A member's new name, metadata or attributes (its own or the REST API's); everyone
        is told, unless nothing changed."""
        if member.apply(update):
            self._observer.member_changed(self.name, member)
            await self._tell(list(self.members.values()), MemberUpdated(member))

    async def mute(
        self, member: Member, track_id: str, muted: bool, *, by_server: bool = False
    ) -> bool:
        """Mark a track (un)muted and tell the others. A mute by the server (REST API) is also
        told to the publisher, whose client then stops its track, and enforced here: nothing of
        the track is forwarded until someone unmutes it (the publisher may, as in LiveKit)."""
        track = member.tracks.get(track_id)
        if track is None:
            return False
        track.muted = muted
        enforced = by_server or not muted
        if enforced:
            track.source.muted = muted
        self._observer.member_changed(self.name, member)
        told = list(self.members.values()) if by_server else self._others(member)
        await self._tell(told, TrackMuted(track, by_server=by_server, enforced=enforced))
        return True

    async def detect_speakers(self, now_ms: int) -> bool:
        """Run the speaker detector on the audio heard since the last run (the node's speaker
        tick) and tell everyone when it is worth it; True if told. A muted track never speaks:
        whatever it sends meanwhile is read and ignored."""
        levels = {}
        for member in self.members.values():
            for track in member.tracks.values():
                if track.kind == "audio":
                    heard = track.source.audio_levels()
                    if not (track.muted or track.source.muted):
                        levels[track] = heard
        speakers = self._detector.update(levels, now_ms)
        if not due(self.speakers, speakers, self._speakers_told_ms, now_ms):
            return False
        self.speakers, self._speakers_told_ms = speakers, now_ms
        await self._tell(list(self.members.values()), SpeakersChanged(speakers))
        return True

    async def send_data(self, data: DataSent, to: Sequence[str] | None) -> list[str]:
        """Tell everyone but the sender, or the members named in `to` (each once, in its
        order); returns the names in `to` no member here has."""
        if to is None:
            await self._tell(self._others(data.sender), data)
            return []
        names = dict.fromkeys(to)
        named = [self.members[n] for n in names if n in self.members]
        await self._tell([m for m in named if m is not data.sender], data)
        return [n for n in names if n not in self.members]

    def __len__(self) -> int:
        return len(self.members)

    def _others(self, member: Member) -> list[Member]:
        return [m for m in self.members.values() if m is not member]

    async def _tell(self, members: list[Member], event: RoomEvent) -> None:
        for member in members:
            handle = self._handles.get(member.sid)
            if handle is None:
                continue  # it left while those before it were told
            try:
                await handle.room_event(event)
            except Exception:  # one member's failure must not reach the others
                logger.exception(
                    "room %s: %s failed on %s", self.name, member.identity, type(event).__name__
                )
