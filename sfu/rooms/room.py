"""A room on this node: who is in it, and the fan-out of joins, leaves and tracks."""

from __future__ import annotations

import logging

from sfu.rooms.participant import Participant
from sfu.signaling.messages import (
    ParticipantJoined,
    ParticipantLeft,
    PublishAnswer,
    ServerMessage,
    TrackMuted,
    TrackPublished,
    TrackUnpublished,
)

logger = logging.getLogger(__name__)


class Room:
    def __init__(self, name: str) -> None:
        self.name = name
        self.participants: dict[str, Participant] = {}

    def _broadcast(self, message: ServerMessage, *, skip: Participant) -> None:
        for other in self.participants.values():
            if other is not skip:
                other.send(message)

    async def join(self, participant: Participant) -> None:
        """Add a participant (the caller has removed any older one with the same identity)."""
        self.participants[participant.identity] = participant
        self._broadcast(ParticipantJoined(participant=participant.info()), skip=participant)
        for other in list(self.participants.values()):
            if other is not participant:
                for track in list(other.published.values()):
                    await participant.subscribe(track)
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
        for other in list(self.participants.values()):
            for track_id in participant.published:
                await other.unsubscribe(track_id)
            other.send(ParticipantLeft(identity=participant.identity))
        await participant.close()
        logger.info(
            "room %s: %s left (%d in room)", self.name, participant.identity, len(self.participants)
        )

    async def publish(self, participant: Participant, offer: str) -> None:
        """Answer the participant's offer, then offer its new tracks to everyone else."""
        answer, mids, new = await participant.publish(offer)
        participant.send(PublishAnswer(sdp=answer, tracks=mids))
        for track in new:
            self._broadcast(
                TrackPublished(participant=participant.identity, track=track.info), skip=participant
            )
            for other in list(self.participants.values()):
                if other is not participant:
                    await other.subscribe(track)

    def mute(self, participant: Participant, track_id: str, muted: bool) -> bool:
        track = participant.set_muted(track_id, muted)
        if track is None:
            return False
        self._broadcast(
            TrackMuted(participant=participant.identity, track_id=track_id, muted=muted),
            skip=participant,
        )
        return True

    async def unpublish(self, participant: Participant, track_id: str) -> None:
        if participant.published.pop(track_id, None) is None:
            return
        for other in list(self.participants.values()):
            if other is not participant:
                await other.unsubscribe(track_id)
        self._broadcast(
            TrackUnpublished(participant=participant.identity, track_id=track_id), skip=participant
        )

    def tick(self, now_ms: int) -> None:
        for participant in self.participants.values():
            participant.tick(now_ms)
