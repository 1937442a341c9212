"""A member of a room: who it is, what it may do, what the app says of it, and the tracks it
publishes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from cluster.metadata import MetadataUpdate
from cluster.models import new_id
from cluster.tokens import JoinClaims, JoinGrants
from sfu.media.description import Kind
from sfu.media.receiver import TrackReceiver

# What a track carries, as its publisher says: screens come before cameras when bandwidth is short
Capture = Literal["camera", "microphone", "screen", "screen_audio"]
CAPTURES: dict[Kind, tuple[Capture, ...]] = {
    "video": ("camera", "screen"),
    "audio": ("microphone", "screen_audio"),
}


def capture_of(kind: Kind, named: Capture | None) -> Capture | None:
    """What a track of ``kind`` carries: as its publisher named it, the camera or microphone if
    unnamed, None if the name does not fit the kind (a video cannot be a microphone)."""
    if named is None:
        return CAPTURES[kind][0]
    return named if named in CAPTURES[kind] else None


@dataclass(eq=False, slots=True)
class Track:
    """A published track: its media source and what subscribers are told about it."""

    id: str
    kind: Kind
    simulcast: tuple[str, ...]
    source: TrackReceiver
    publisher: Member
    muted: bool = False
    capture: Capture = "camera"

    @property
    def screen(self) -> bool:
        """A shared screen (or its audio): its video goes first when bandwidth is short."""
        return self.capture in ("screen", "screen_audio")

    @property
    def stream_id(self) -> str:
        """Tracks of one publisher share a stream (the msid), so a client can sync them."""
        return self.publisher.sid


@dataclass(eq=False, slots=True)
class Member:
    identity: str
    name: str
    grants: JoinGrants  # what its join token allows, or the REST API since
    sid: str = field(default_factory=lambda: new_id("PA"))
    tracks: dict[str, Track] = field(default_factory=dict)
    metadata: str = ""  # the app's, from its join token, itself or the REST API since
    attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_claims(cls, claims: JoinClaims, *, hidden: bool = False) -> Member:
        """The member a verified join token makes (``hidden``: in no one's roster, whatever
        the token says: a WHEP player)."""
        grants = dataclasses.replace(claims.grants, hidden=True) if hidden else claims.grants
        return cls(
            identity=claims.identity,
            name=claims.name or claims.identity,
            grants=grants,
            metadata=claims.metadata,
            attributes=dict(claims.attributes),
        )

    def may_publish(self, capture: Capture) -> bool:
        """A hidden member publishes nothing: its tracks would show it."""
        grants = self.grants
        return grants.publish and not grants.hidden and capture in grants.sources

    def apply(self, update: MetadataUpdate) -> bool:
        """Take the fields `update` gives; True if anything changed."""
        before = (self.name, self.metadata, self.attributes)
        if update.name is not None:
            self.name = update.name
        if update.metadata is not None:
            self.metadata = update.metadata
        if update.attributes is not None:
            self.attributes = dict(update.attributes)
        return (self.name, self.metadata, self.attributes) != before
