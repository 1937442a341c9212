"""Commands the control plane sends to the media node that hosts a room.

They travel as JSON over the store's command channel (Redis pub/sub when several nodes run).
Delivery is at most once: a node that is not listening misses the command, which is why every
command is also reflected in the store first (a deleted room stays deleted, a draining node
stays draining) and the API answers from the store, not from the node.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from cluster.metadata import MetadataUpdate
from cluster.tokens import JoinGrants

CommandKind = Literal[
    "delete_room", "remove_participant", "mute_track", "update_grants", "update_metadata", "drain"
]
COMMAND_KINDS: tuple[CommandKind, ...] = get_args(CommandKind)


class BadCommand(ValueError):
    """A command message that cannot be decoded (logged and ignored by the node)."""


@dataclass(frozen=True, slots=True)
class NodeCommand:
    kind: CommandKind
    room: str = ""
    identity: str = ""
    track_id: str = ""
    muted: bool = False
    grants: JoinGrants | None = None  # update_grants: the participant's grants from now on
    update: MetadataUpdate | None = None  # update_metadata: its new name, metadata, attributes

    def to_json(self) -> str:
        fields = asdict(self)
        fields["grants"] = self.grants.to_claims() if self.grants is not None else None
        fields["update"] = self.update.to_fields() if self.update is not None else None
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> NodeCommand:
        try:
            data = json.loads(text)
            kind, room, identity = data["kind"], data["room"], data["identity"]
            track_id, muted = data["track_id"], data["muted"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadCommand(f"not a command: {exc!r}") from exc
        if kind not in COMMAND_KINDS:
            raise BadCommand(f"unknown command kind {kind!r}")
        if not all(isinstance(v, str) for v in (room, identity, track_id)) or not isinstance(
            muted, bool
        ):
            raise BadCommand(f"command {kind}: fields of the wrong type")
        try:  # absent from the commands of a control plane before grant (metadata) updates
            grants = None if data.get("grants") is None else JoinGrants.from_claims(data["grants"])
            update = (
                None if data.get("update") is None else MetadataUpdate.from_fields(data["update"])
            )
        except ValueError as exc:
            raise BadCommand(f"command {kind}: {exc}") from exc
        return cls(
            kind=kind,
            room=room,
            identity=identity,
            track_id=track_id,
            muted=muted,
            grants=grants,
            update=update,
        )
