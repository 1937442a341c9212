"""Who is where: the node tells the control plane about its rooms and participants.

Room changes arrive synchronously from the packet-free parts of the node (joins, leaves,
publications, mutes) and must never wait on Redis, so they are queued and written in order by
one task. A write that fails marks the presence stale, and the next successful heartbeat
rewrites everything (`resync`), which also re-claims the node's rooms when Redis lost them.
Lifecycle events (room started/finished, participant joined/updated/left, tracks published,
unpublished, muted and unmuted) go to `on_event`, the node's webhooks, in the order they
happened. A write the store refuses because the room is assigned to another node means this
node lost the room: `on_lost` is told, and the node closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from cluster.errors import NotRoomOwner
from cluster.models import ParticipantRecord, TrackRecord, is_valid_room_name, new_room
from cluster.store.base import Store
from cluster.webhooks import EventType
from sfu.rooms.member import Member

logger = logging.getLogger(__name__)

# (event, room, the participant it is about, the track it is about)
EventSink = Callable[[EventType, str, ParticipantRecord | None, TrackRecord | None], None]
LostSink = Callable[[str], None]


def participant_record(member: Member, node_id: str, joined_at: float) -> ParticipantRecord:
    return ParticipantRecord(
        identity=member.identity,
        name=member.name,
        node_id=node_id,
        joined_at=joined_at,
        tracks=tuple(
            TrackRecord(id=t.id, kind=t.kind, muted=t.muted, source=t.capture)
            for t in member.tracks.values()
        ),
        metadata=member.metadata,
        attributes=dict(member.attributes),
    )


def described_differently(before: ParticipantRecord, after: ParticipantRecord) -> bool:
    """Whether a participant's name, metadata or attributes changed between two records."""
    return (before.name, before.metadata, before.attributes) != (
        after.name,
        after.metadata,
        after.attributes,
    )


def track_events(
    before: Sequence[TrackRecord], after: Sequence[TrackRecord]
) -> list[tuple[EventType, TrackRecord]]:
    """What happened to a participant's tracks between two of its records: the tracks gone,
    then each of the others that is new or was (un)muted, in the order it lists them."""
    old, new = {t.id: t for t in before}, {t.id for t in after}
    events: list[tuple[EventType, TrackRecord]] = [
        ("track_unpublished", t) for t in before if t.id not in new
    ]
    for track in after:
        was = old.get(track.id)
        if was is None:
            events.append(("track_published", track))
        elif was.muted != track.muted:
            events.append(("track_muted" if track.muted else "track_unmuted", track))
    return events


class Presence:
    def __init__(
        self,
        store: Store,
        node_id: str,
        *,
        on_event: EventSink,
        on_lost: LostSink,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._node_id = node_id
        self._on_event = on_event
        self._on_lost = on_lost
        self._clock = clock
        # room -> identity -> the participant's current record
        self._records: dict[str, dict[str, ParticipantRecord]] = {}
        self._writes: asyncio.Queue[Callable[[], Awaitable[object]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.stale = False

    def start(self) -> None:
        self._worker = asyncio.create_task(self._write_loop(), name="presence-writes")

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Let queued writes go out (bounded), then stop."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), timeout_s)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None

    def member_changed(self, room: str, member: Member) -> None:
        members = self._records.setdefault(room, {})
        previous = members.get(member.identity)
        joined_at = previous.joined_at if previous is not None else self._clock()
        record = participant_record(member, self._node_id, joined_at)
        members[member.identity] = record
        self._writes.put_nowait(lambda: self._store.put_participant(room, record))
        if previous is None:
            if len(members) == 1:
                self._on_event("room_started", room, None, None)
            self._on_event("participant_joined", room, record, None)
        elif described_differently(previous, record):
            self._on_event("participant_updated", room, record, None)
        for event, track in track_events(previous.tracks if previous else (), record.tracks):
            self._on_event(event, room, record, track)

    def member_left(self, room: str, member: Member) -> None:
        members = self._records.get(room, {})
        record = members.pop(member.identity, None)
        if record is None:
            return
        identity, node_id = member.identity, self._node_id
        self._writes.put_nowait(lambda: self._store.remove_participant(room, identity, node_id))
        for event, track in track_events(record.tracks, ()):
            self._on_event(event, room, record, track)
        self._on_event("participant_left", room, record, None)
        if not members:
            del self._records[room]
            self._on_event("room_finished", room, None, None)

    @property
    def records(self) -> Mapping[str, Mapping[str, ParticipantRecord]]:
        return self._records

    async def resync(self) -> list[str]:
        """Write every room and participant this node hosts again (raises on store errors).
        A room the store forgot comes back with default settings (they were lost with it).
        Returns the rooms assigned to another node meanwhile: they are no longer this node's."""
        self.stale = False
        for room in list(self._records):
            if is_valid_room_name(room):  # a token minted elsewhere may name any room
                await self._store.create_room(new_room(room, now=self._clock()))
        lost = await self._store.claim_rooms(self._node_id, list(self._records))
        for room, members in list(self._records.items()):
            if room not in lost:
                for record in list(members.values()):
                    await self._store.put_participant(room, record)
        return lost

    async def lost_rooms(self) -> list[str]:
        """The rooms this node hosts that the store assigns to another node (raises on store
        errors); a room assigned to no node is left to `resync`."""
        owners = await self._store.room_owners(list(self._records))
        return [room for room, owner in owners.items() if owner not in (None, self._node_id)]

    async def _write_loop(self) -> None:
        while True:
            write = await self._writes.get()
            try:
                await write()
            except NotRoomOwner as exc:
                self._on_lost(exc.room)
            except Exception as exc:  # the store is down: rewrite all on the next heartbeat
                if not self.stale:
                    logger.warning("node %s: presence write failed: %s", self._node_id, exc)
                self.stale = True
            finally:
                self._writes.task_done()
