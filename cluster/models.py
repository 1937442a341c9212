"""Values the control plane and the media nodes store and decide on.

Plain frozen dataclasses so that the selector, the stores and the media node share one
vocabulary without pulling in FastAPI, pydantic or Redis.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

NodeState = Literal["active", "draining"]
NODE_STATES: tuple[NodeState, ...] = ("active", "draining")

# Room names travel in URLs, Redis keys and JWT claims, so they are kept to a safe alphabet.
ROOM_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
_ROOM_NAME_RE = re.compile(ROOM_NAME_PATTERN)
# Node ids become parts of Redis keys ("node:<id>"), so ':' and spaces are excluded.
NODE_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
_NODE_ID_RE = re.compile(NODE_ID_PATTERN)


def is_valid_room_name(name: str) -> bool:
    """True if `name` can be used as a room name everywhere (URL, Redis key, token claim)."""
    return _ROOM_NAME_RE.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a media node declares when it registers."""

    id: str
    url: str  # signaling WebSocket URL that browsers connect to
    capacity: int  # maximum participants the node accepts
    state: NodeState = "active"

    def __post_init__(self) -> None:
        if _NODE_ID_RE.fullmatch(self.id) is None:
            raise ValueError(f"node id {self.id!r} must match {NODE_ID_PATTERN}")
        if self.capacity < 0:
            raise ValueError(f"node {self.id}: capacity must be >= 0, not {self.capacity}")
        if self.state not in NODE_STATES:
            raise ValueError(f"node {self.id}: state must be one of {NODE_STATES}")


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """What a media node reports on every heartbeat."""

    participants: int = 0
    tracks: int = 0
    packets_per_s: float = 0.0
    cpu: float = 0.0  # fraction of one core, 0.0-1.0+


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A registered node as the store sees it; `heartbeat_at` is None until the first beat."""

    info: NodeInfo
    load: NodeLoad = field(default_factory=NodeLoad)
    heartbeat_at: float | None = None


# Nodes beat every 2 s: a node is reported dead at most this long after it stopped.
DEFAULT_NODE_TTL_S = 5.0


def is_alive(status: NodeStatus, now: float, ttl: float) -> bool:
    """A node is alive while its last heartbeat is younger than `ttl` seconds."""
    return status.heartbeat_at is not None and now - status.heartbeat_at < ttl


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room as created through the API; which node hosts it is kept separately.

    `id` names this incarnation of the room: join tokens carry it, so a token minted before
    the room was deleted does not open a room created later under the same name."""

    name: str
    max_participants: int
    empty_timeout_s: int
    metadata: str
    created_at: float
    id: str


def new_id(prefix: str) -> str:
    """An id a node gives a participant (``PA``) or a track (``TR``): 72 random bits."""
    return f"{prefix}_{secrets.token_urlsafe(9)}"


def new_room_id() -> str:
    """A fresh room incarnation id (96 random bits)."""
    return "RM_" + secrets.token_hex(12)


DEFAULT_MAX_PARTICIPANTS = 100
DEFAULT_EMPTY_TIMEOUT_S = 300


def new_room(
    name: str,
    *,
    now: float,
    max_participants: int = DEFAULT_MAX_PARTICIPANTS,
    empty_timeout_s: int = DEFAULT_EMPTY_TIMEOUT_S,
    metadata: str = "",
) -> RoomInfo:
    """A new incarnation of a room: created through the API, or by a node whose store lost it."""
    return RoomInfo(
        name=name,
        max_participants=max_participants,
        empty_timeout_s=empty_timeout_s,
        metadata=metadata,
        created_at=now,
        id=new_room_id(),
    )


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A track a participant publishes, as the control plane sees it."""

    id: str
    kind: str  # "audio" | "video"
    muted: bool = False
    source: str = ""  # "camera" | "microphone" | "screen" | "screen_audio" ("": an older node)


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    """A participant as its node reports it; `node_id` tells a live record from a stale one
    (a participant whose node died stays in the store until it rejoins elsewhere)."""

    identity: str
    name: str
    node_id: str
    joined_at: float
    tracks: tuple[TrackRecord, ...] = ()
    metadata: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admission:
    """What the store says about a join, read in one round trip by the node that takes it:
    the room (None if it does not exist), the node it is assigned to, and the identity's
    generation there (raised each time the identity is removed, which revokes its tokens)."""

    room: RoomInfo | None
    node_id: str | None
    generation: int
