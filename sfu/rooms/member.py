"""A member of a room: who it is, what it may do, and the tracks it publishes."""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster.models import new_id
from cluster.tokens import JoinGrants
from sfu.media.description import Kind
from sfu.media.receiver import TrackReceiver


@dataclass(eq=False, slots=True)
class Track:
    """A published track: its media source and what subscribers are told about it."""

    id: str
    kind: Kind
    simulcast: tuple[str, ...]
    source: TrackReceiver
    publisher: Member
    muted: bool = False

    @property
    def stream_id(self) -> str:
        """Tracks of one publisher share a stream (the msid), so a client can sync them."""
        return self.publisher.sid


@dataclass(eq=False, slots=True)
class Member:
    identity: str
    name: str
    grants: JoinGrants  # what its join token allows
    sid: str = field(default_factory=lambda: new_id("PA"))
    tracks: dict[str, Track] = field(default_factory=dict)
