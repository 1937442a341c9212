"""A room on this node: who is in it, and the fan-out of joins, leaves and tracks."""

from __future__ import annotations

import logging
from typing import Protocol

from sfu.media.clock import monotonic_ms
from sfu.rooms.participant import Participant
from sfu.signaling.messages import (
    ParticipantJoined,
    ParticipantLeft,
    PublishAnswer,
    ServerMessage,
    TrackMuted,
    TrackPublished,
)

logger = logging.getLogger(__name__)


class RoomObserver(Protocol):
    """Told of every change the control plane should know about (the node's presence)."""

    def participant_changed(self, room: str, participant: Participant) -> None: ...

    def participant_left(self, room: str, participant: Participant) -> None: ...


class Room:
    def __init__(self, name: str, observer: RoomObserver) -> None:
        self.name = name
        self.participants: dict[str, Participant] = {}
        self._observer = observer

    def _broadcast(self, message: ServerMessage, *, skip: Participant | None) -> None:
        for other in self.participants.values():
            if other is not skip:
                other.send(message)

    async def join(self, participant: Participant) -> None:
        """Add a participant (the caller has removed any older one with the same identity)."""
        self.participants[participant.identity] = participant
        self._observer.participant_changed(self.name, participant)
        self._broadcast(ParticipantJoined(participant=participant.info()), skip=participant)
        await participant.subscribe(
            [
                t
                for o in self.participants.values()
                if o is not participant
                for t in o.published.values()
            ]
        )
        logger.info(
            "room %s: %s joined (%d in room)",
            self.name,
            participant.identity,
            len(self.participants),
        )

    async def leave(self, participant: Participant) -> None:
        if self.participants.get(participant.identity) is not participant:
            return
        del self.participants[participant.identity]
        self._observer.participant_left(self.name, participant)
        try:
            for other in list(self.participants.values()):
                other.send(ParticipantLeft(identity=participant.identity))
                try:
                    await other.unsubscribe(list(participant.published))
                except Exception:  # one participant's failure must not reach the others
                    logger.exception("room %s: unsubscribing %s failed", self.name, other.identity)
        finally:
            await participant.close()
        logger.info(
            "room %s: %s left (%d in room)", self.name, participant.identity, len(self.participants)
        )

    async def publish(self, participant: Participant, offer: str) -> None:
        """Answer the participant's offer, then offer its new tracks to everyone else."""
        answer, mids, new = await participant.publish(offer)
        participant.send(PublishAnswer(sdp=answer, tracks=mids))
        if new:
            self._observer.participant_changed(self.name, participant)
        for track in new:
            self._broadcast(
                TrackPublished(participant=participant.identity, track=track.info), skip=participant
            )
        for other in list(self.participants.values()):
            if other is not participant:
                await other.subscribe(new)

    def mute(
        self, participant: Participant, track_id: str, muted: bool, *, by_server: bool = False
    ) -> bool:
        """Mark a track (un)muted and tell the others. A mute by the server (REST API) is also
        sent to the publisher, whose client then stops its track, and enforced here: nothing of
        the track is forwarded until someone unmutes it (the publisher may, as in LiveKit)."""
        track = participant.set_muted(track_id, muted)
        if track is None:
            return False
        if by_server or not muted:
            track.receiver.muted = muted
            now_ms = monotonic_ms()
            for other in self.participants.values():
                if other is not participant:
                    other.allocate(now_ms)  # a muted video is paused, an unmuted one resumes
        self._observer.participant_changed(self.name, participant)
        self._broadcast(
            TrackMuted(participant=participant.identity, track_id=track_id, muted=muted),
            skip=None if by_server else participant,
        )
        return True

    def tick(self, now_ms: int) -> None:
        for participant in self.participants.values():
            participant.tick(now_ms)
