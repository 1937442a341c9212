"""Signaling messages, version 1: the typed contract between a client and a media node.

Each frame is a JSON object whose ``type`` picks the model. ``docs/signaling.md`` is the guide.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sfu.rooms.member import Capture

PROTOCOL_VERSION: Literal[1] = 1
MAX_FRAME_BYTES = 64 * 1024
# The WebSocket's own limit: a frame up to it is read (one at a time) and, over MAX_FRAME_BYTES
# after joining, refused with a too_large error; a larger one closes the connection (1009).
MAX_WS_FRAME_BYTES = 2 * 1024 * 1024
MAX_SDP_CHARS = 60_000


class _Message(BaseModel):
    # NaN and Infinity are not JSON: a client must not make us send them (they go out as null)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# client -> node ---------------------------------------------------------------------------------


class ReceiveCodec(_Message):
    """A codec the client decodes: an RTCRtpCodecCapability as the browser lists it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    mimeType: str = Field(min_length=1, max_length=64)
    sdpFmtpLine: str = Field(default="", max_length=512)


class Join(_Message):
    type: Literal["join"]
    protocol: Literal[1] = PROTOCOL_VERSION
    room: str = Field(min_length=1, max_length=128)
    # empty: refused as "token missing"; bounded by the frame (metadata makes tokens large)
    token: str = Field(default="", max_length=MAX_FRAME_BYTES)
    # The audio and video codecs the client decodes; a track in another one is not sent to it
    # (it gets an unsupported_codec error naming it). None: every codec the node forwards.
    receive_codecs: list[ReceiveCodec] | None = Field(default=None, max_length=128)


class PublishOffer(_Message):
    type: Literal["publish_offer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)
    # What each new m-line carries (mid -> source); unnamed ones are the camera and microphone
    sources: dict[Annotated[str, Field(max_length=32)], Capture] = Field(
        default_factory=dict, max_length=16
    )


class SubscribeAnswer(_Message):
    type: Literal["subscribe_answer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)


class IceCandidate(_Message):
    """An RTCIceCandidateInit as the browser gives it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = None
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=1024)


class Trickle(_Message):
    type: Literal["trickle"]
    target: Literal["publish", "subscribe"]
    candidate: IceCandidate | None


class Mute(_Message):
    type: Literal["mute"]
    track_id: str = Field(min_length=1, max_length=64)
    muted: bool
    # whose track: another participant's is muted by the server (room_admin grant only)
    participant: str | None = Field(default=None, min_length=1, max_length=128)


class RemoveParticipant(_Message):
    """Ends another participant's session, as the REST API does (room_admin grant only)."""

    type: Literal["remove_participant"]
    identity: str = Field(min_length=1, max_length=128)


class VideoSize(_Message):
    type: Literal["video_size"]
    track_id: str = Field(min_length=1, max_length=64)
    width: int = Field(ge=0, le=16384)
    height: int = Field(ge=0, le=16384)


class VideoQuality(_Message):
    """A manual cap on a subscribed video's quality; ``auto`` follows the rendered size."""

    type: Literal["video_quality"]
    track_id: str = Field(min_length=1, max_length=64)
    quality: Literal["auto", "low", "medium", "high"]


class IceRestart(_Message):
    """The subscribe connection lost its path: send a subscribe_offer with new ICE credentials.
    (The publish connection restarts with a publish_offer carrying new ones.)"""

    type: Literal["ice_restart"]


class UpdateMetadata(_Message):
    """Change your own name, metadata or attributes (needs the update_metadata grant): each
    field given replaces its value; the bounds are cluster.metadata's."""

    type: Literal["update_metadata"]
    name: str | None = None
    metadata: str | None = None
    attributes: dict[str, str] | None = None


class Leave(_Message):
    type: Literal["leave"]


class Ping(_Message):
    type: Literal["ping"]
    ts: float = 0


class Data(_Message):
    """A message for everyone else in the room, or for the participants named in `to`."""

    type: Literal["data"]
    payload: str  # bounded by the frame (MAX_FRAME_BYTES)
    to: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, min_length=1, max_length=256
    )
    topic: str | None = Field(default=None, min_length=1, max_length=64)
    reliable: bool = True  # false: may be dropped first (rate limit, a receiver behind)


ClientMessage = Annotated[
    PublishOffer
    | Data
    | SubscribeAnswer
    | Trickle
    | Mute
    | RemoveParticipant
    | VideoSize
    | VideoQuality
    | UpdateMetadata
    | IceRestart
    | Leave
    | Ping
    | Join,
    Field(discriminator="type"),
]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
CLIENT_TYPES = frozenset(
    (
        "join",
        "publish_offer",
        "data",
        "subscribe_answer",
        "trickle",
        "mute",
        "remove_participant",
        "video_size",
        "video_quality",
        "update_metadata",
        "ice_restart",
        "leave",
        "ping",
    )
)


# node -> client ---------------------------------------------------------------------------------


class TrackInfo(_Message):
    id: str
    kind: Literal["audio", "video"]
    source: Capture
    muted: bool = False
    simulcast: list[str] = []


class ParticipantInfo(_Message):
    sid: str
    identity: str
    name: str
    metadata: str = ""
    attributes: dict[str, str] = {}
    tracks: list[TrackInfo] = []


class IceServer(_Message):
    """A TURN relay for the client's RTCPeerConnections (RTCIceServer), with credentials."""

    urls: list[str]
    username: str
    credential: str


class Joined(_Message):
    type: Literal["joined"] = "joined"
    participant: ParticipantInfo
    participants: list[ParticipantInfo]
    ice_servers: list[IceServer] = []


class PublishAnswer(_Message):
    type: Literal["publish_answer"] = "publish_answer"
    sdp: str
    tracks: dict[str, str]


class SubscribedTrack(_Message):
    track_id: str
    participant: str
    kind: Literal["audio", "video"]
    source: Capture


class SubscribeOffer(_Message):
    type: Literal["subscribe_offer"] = "subscribe_offer"
    sdp: str
    tracks: dict[str, SubscribedTrack]


class ParticipantJoined(_Message):
    type: Literal["participant_joined"] = "participant_joined"
    participant: ParticipantInfo


class ParticipantUpdated(_Message):
    """A participant's name, metadata or attributes changed (yours too)."""

    type: Literal["participant_updated"] = "participant_updated"
    participant: ParticipantInfo


class ParticipantLeft(_Message):
    type: Literal["participant_left"] = "participant_left"
    identity: str


class TrackPublished(_Message):
    type: Literal["track_published"] = "track_published"
    participant: str
    track: TrackInfo


class TrackUnpublished(_Message):
    type: Literal["track_unpublished"] = "track_unpublished"
    participant: str
    track_id: str


class TrackMuted(_Message):
    type: Literal["track_muted"] = "track_muted"
    participant: str
    track_id: str
    muted: bool


class DataFrom(_Message):
    """A data message of `from` (the sender's identity); `ts`: the node's clock when it took
    it, ms since the epoch."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    type: Literal["data"] = "data"
    sender: str = Field(alias="from")
    topic: str | None
    payload: str
    ts: int


ErrorCode = Literal[
    "bad_json",
    "bad_message",
    "bad_sdp",
    "not_allowed",
    "unknown_track",
    "unknown_participant",
    "bad_state",
    "unsupported_codec",
    "connection_failed",
    "internal_error",
    "too_large",
    "rate_limited",
    "unknown_recipient",
]


class PublisherLayers(_Message):
    """Dynacast: encode only these simulcast layers of your track; nobody receives the others."""

    type: Literal["publisher_layers"] = "publisher_layers"
    track_id: str
    active: list[str]


class SubscriptionLayer(_Message):
    """Which layer of a subscribed video the node now forwards (``null``: paused)."""

    type: Literal["subscription_layer"] = "subscription_layer"
    track_id: str
    layer: str | None


class Downlink(_Message):
    """What the node estimates your downlink carries (it picks your layers by it)."""

    type: Literal["downlink"] = "downlink"
    bps: int
    source: Literal["transport-cc", "remb"]


class SpeakerLevel(_Message):
    participant: str  # identity
    track_id: str
    level: float  # smoothed, 0 (silence) to 1 (full scale)


class Speakers(_Message):
    """Who is speaking, loudest first, and who has the floor (kept while nobody else speaks)."""

    type: Literal["speakers"] = "speakers"
    speakers: list[SpeakerLevel]
    dominant: str | None  # identity


class Error(_Message):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    ref: str | None = None
    track_id: str | None = None  # the track it is about, if one


class Pong(_Message):
    type: Literal["pong"] = "pong"
    ts: float


ServerMessage = (
    Joined
    | DataFrom
    | PublishAnswer
    | SubscribeOffer
    | ParticipantJoined
    | ParticipantUpdated
    | ParticipantLeft
    | TrackPublished
    | TrackUnpublished
    | TrackMuted
    | PublisherLayers
    | SubscriptionLayer
    | Downlink
    | Speakers
    | Error
    | Pong
)
