"""Errors the stores and the join flow raise on purpose, without knowing about HTTP.

The control API maps each to exactly one HTTP status (`control_api.app`); a media node meets
`StoreUnavailable` and `NotRoomOwner`.
"""

from __future__ import annotations


class ControlError(Exception):
    """Base class: `reason` is the human-readable text sent back to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RoomNotFound(ControlError):
    def __init__(self, name: str) -> None:
        super().__init__(f"room {name!r} not found")
        self.name = name


class NodeNotFound(ControlError):
    def __init__(self, node_id: str) -> None:
        super().__init__(f"node {node_id!r} not found")
        self.node_id = node_id


class NoNodeAvailable(ControlError):
    """No alive, active media node has room for another participant."""


class StoreUnavailable(ControlError):
    """The backing store (Redis) could not be reached or answered with an error."""


class ParticipantNotFound(ControlError):
    def __init__(self, room: str, identity: str) -> None:
        super().__init__(f"participant {identity!r} is not in room {room!r}")


class TrackNotFound(ControlError):
    def __init__(self, identity: str, track_id: str) -> None:
        super().__init__(f"participant {identity!r} publishes no track {track_id!r}")


class NodeUnreachable(ControlError):
    """The node hosting the room does not listen for commands (restarting, or just died)."""


class NotRoomOwner(ControlError):
    """A node wrote about a room that is assigned to another node (or none): it lost the room
    (paused or cut off past its liveness TTL) and must stop serving it."""

    def __init__(self, room: str, node_id: str) -> None:
        super().__init__(f"room {room!r} is not assigned to node {node_id!r}")
        self.room = room
