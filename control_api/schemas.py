"""The public REST contract: request and response bodies (pydantic).

Every input is bounded here so that a bad request is a 422 with field errors, never a
failure deeper in the stack.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from cluster.metadata import (
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_METADATA_CHARS,
    MAX_NAME_CHARS,
    NO_CONTROL_PATTERN,
    MetadataUpdate,
    check_name,
    check_unicode,
)
from cluster.models import (
    DEFAULT_EMPTY_TIMEOUT_S,
    DEFAULT_MAX_PARTICIPANTS,
    ROOM_NAME_PATTERN,
    NodeStatus,
    ParticipantRecord,
    RoomInfo,
    new_room,
)
from cluster.tokens import MAX_TOKEN_TTL_S, JoinGrants

RoomName = Annotated[str, Field(pattern=ROOM_NAME_PATTERN, examples=["standup"])]
# Identities are printable, without spaces, so they read well in logs and URLs.
IDENTITY_PATTERN = r"^[A-Za-z0-9_.@:+-]{1,128}$"
Identity = Annotated[str, Field(pattern=IDENTITY_PATTERN, examples=["alice"])]
TRACK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_PAGE = 500


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


# On an integer of a request body (after its bounds): JSON's `true` is a client's mistake,
# not 1 (2.0 is still 2).
NOT_BOOL = BeforeValidator(_no_bool)
# A participant's name, metadata and attributes: cluster.metadata's bounds, stated in the schema
# (the after-validators refuse lone surrogates, which a schema cannot state)
DisplayName = Annotated[
    str,
    Field(max_length=MAX_NAME_CHARS, pattern=NO_CONTROL_PATTERN),
    AfterValidator(check_unicode),
]
Metadata = Annotated[str, Field(max_length=MAX_METADATA_CHARS), AfterValidator(check_unicode)]
# A key's pattern would become patternProperties, which leaves other keys unchecked: it is
# checked after (check_name: no control characters) and stated in propertyNames instead.
AttributeKey = Annotated[
    str, Field(min_length=1, max_length=MAX_ATTRIBUTE_KEY_CHARS), AfterValidator(check_name)
]
AttributeValue = Annotated[
    str,
    Field(max_length=MAX_ATTRIBUTE_VALUE_CHARS, pattern=NO_CONTROL_PATTERN),
    AfterValidator(check_unicode),
]


def _key_pattern(schema: dict[str, Any]) -> None:
    schema["propertyNames"]["pattern"] = NO_CONTROL_PATTERN


Attributes = Annotated[
    dict[AttributeKey, AttributeValue],
    Field(max_length=MAX_ATTRIBUTES, json_schema_extra=_key_pattern),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoomCreate(_Body):
    name: RoomName
    max_participants: Annotated[int, Field(ge=1, le=10_000), NOT_BOOL] = DEFAULT_MAX_PARTICIPANTS
    empty_timeout_s: Annotated[int, Field(ge=0, le=86_400), NOT_BOOL] = DEFAULT_EMPTY_TIMEOUT_S
    metadata: str = Field(default="", max_length=4096)

    def to_room(self, *, now: float) -> RoomInfo:
        return new_room(
            self.name,
            now=now,
            max_participants=self.max_participants,
            empty_timeout_s=self.empty_timeout_s,
            metadata=self.metadata,
        )


Source = Literal["camera", "microphone", "screen", "screen_audio"]


class GrantsIn(_Body):
    publish: bool = True
    subscribe: bool = True
    publish_data: bool = True  # send data messages (chat, app data) to the room
    sources: list[Source] = Field(default_factory=lambda: list(get_args(Source)), max_length=4)
    hidden: bool = False  # a recorder or bot: in no one's roster; it may not publish
    update_metadata: bool = False  # change its own name, metadata and attributes
    room_admin: bool = False  # mute others' tracks and remove participants over signaling

    def to_grants(self) -> JoinGrants:
        return JoinGrants(
            publish=self.publish,
            subscribe=self.subscribe,
            publish_data=self.publish_data,
            sources=tuple(dict.fromkeys(self.sources)),
            hidden=self.hidden,
            update_metadata=self.update_metadata,
            room_admin=self.room_admin,
        )


class TokenRequest(_Body):
    identity: Identity
    name: DisplayName | None = None  # defaults to the identity
    grants: GrantsIn = Field(default_factory=GrantsIn)
    metadata: Metadata = ""  # the app's, shown to the room (e.g. JSON)
    attributes: Attributes = Field(default_factory=dict)
    ttl_s: Annotated[int, Field(ge=1, le=MAX_TOKEN_TTL_S), NOT_BOOL] | None = (
        None  # default: settings
    )


class DemoTokenRequest(_Body):
    room: RoomName
    identity: Identity
    name: DisplayName | None = None


class TokenOut(BaseModel):
    token: str
    node_url: str
    room: str
    identity: str
    expires_at: float


class NodeRef(BaseModel):
    id: str
    url: str
    alive: bool


class RoomOut(BaseModel):
    name: str
    max_participants: int
    empty_timeout_s: int
    metadata: str
    created_at: float

    @classmethod
    def of(cls, room: RoomInfo) -> RoomOut:
        return cls(
            name=room.name,
            max_participants=room.max_participants,
            empty_timeout_s=room.empty_timeout_s,
            metadata=room.metadata,
            created_at=room.created_at,
        )


class RoomPage(BaseModel):
    rooms: list[RoomOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class RoomDetail(RoomOut):
    node: NodeRef | None = None  # the node hosting the room, once someone was given a token
    participants: int  # connected now (on a live node)


class TrackOut(BaseModel):
    id: str
    kind: str
    muted: bool
    source: str | None  # camera, microphone, screen or screen_audio; None: its node did not say


class ParticipantOut(BaseModel):
    identity: str
    name: str
    node_id: str
    joined_at: float
    tracks: list[TrackOut]
    metadata: str
    attributes: dict[str, str]

    @classmethod
    def of(cls, record: ParticipantRecord) -> ParticipantOut:
        return cls(
            identity=record.identity,
            name=record.name,
            node_id=record.node_id,
            joined_at=record.joined_at,
            tracks=[
                TrackOut(id=t.id, kind=t.kind, muted=t.muted, source=t.source or None)
                for t in record.tracks
            ],
            metadata=record.metadata,
            attributes=dict(record.attributes),
        )


class ParticipantUpdate(_Body):
    """Each field given replaces the participant's; the others stay."""

    name: DisplayName | None = None
    metadata: Metadata | None = None
    attributes: Attributes | None = None

    def to_update(self) -> MetadataUpdate:
        return MetadataUpdate(name=self.name, metadata=self.metadata, attributes=self.attributes)


class MuteRequest(_Body):
    muted: StrictBool  # "yes" or 1 is a mistake, not a mute


class LoadOut(BaseModel):
    participants: int
    tracks: int
    packets_per_s: float
    cpu: float


class NodeOut(BaseModel):
    id: str
    url: str
    capacity: int
    state: Literal["active", "draining"]
    load: LoadOut
    heartbeat_at: float | None
    alive: bool
    rooms: list[str]  # assigned to this node

    @classmethod
    def of(cls, status: NodeStatus, *, alive: bool, rooms: list[str]) -> NodeOut:
        load = status.load
        return cls(
            id=status.info.id,
            url=status.info.url,
            capacity=status.info.capacity,
            state=status.info.state,
            load=LoadOut(
                participants=load.participants,
                tracks=load.tracks,
                packets_per_s=load.packets_per_s,
                cpu=load.cpu,
            ),
            heartbeat_at=status.heartbeat_at,
            alive=alive,
            rooms=rooms,
        )
