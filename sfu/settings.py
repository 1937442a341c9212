"""Media-node settings, read once from the environment (prefix ``SFU_``).

SFU_NODE_HOST / SFU_NODE_PORT   where the node's signaling and metrics listen (0.0.0.0:7880)
SFU_NODE_ID                     id in the node registry (default: hostname-port)
SFU_NODE_URL                    signaling URL clients are given (default ws://host:port/v1/signal)
SFU_NODE_CAPACITY               participants this node accepts (default 100)
SFU_ICE_HOST_ADDRESSES          comma-separated addresses to offer as ICE host candidates
                                (default: the machine's, loopback if it has no other); with
                                SFU_UDP_PORT they may be public (NAT 1:1) addresses
SFU_UDP_PORT                    one UDP port for every peer connection, as an ICE-lite agent
                                (7882; 0: aioice's random port per peer connection instead)
SFU_UDP_BIND                    address that port is bound on (0.0.0.0)
SFU_TCP_PORT                    with SFU_UDP_PORT, the ICE-TCP port beside it, for clients that
                                cannot use UDP (default: the UDP port's number; 0: none)
SFU_CONSENT_TIMEOUT_S           on that port, a peer without a valid check this long is closed (30)
SFU_SUBSCRIBE_ANSWER_TIMEOUT_S  a subscribe_offer unanswered this long ends the session (15 s)
SFU_DRAIN_TIMEOUT_S             a draining node exits once empty or after this long (3600 s)
SFU_DEFAULT_LAYER               layer forwarded until layer selection lands (0=q, 1=h, 2=f)
SFU_DATA_MESSAGES_PER_S         data messages a participant may send (20 a second, bursts of
SFU_DATA_MESSAGE_BURST          50) and their payload bytes (64 KiB a second, bursts of 256 KiB):
SFU_DATA_BYTES_PER_S            beyond, they are refused (docs/signaling.md)
SFU_DATA_BYTE_BURST
SFU_TAP_BACKLOG_FRAMES          audio frames waiting for a tap's bot before the oldest are dropped
                                (50: a second of 20 ms frames)
SFU_TAP_STALL_S                 a tap's bot that reads nothing this long is cut off (10 s)
SFU_TURN_URLS                   comma-separated turn:/turns: URLs every client is given (none)
SFU_TURN_SECRET                 the secret they share with coturn (static-auth-secret)
SFU_API_KEYS / SFU_API_KEYS_FILE / SFU_DEMO / SFU_REDIS_URL   as for the control API
"""

from __future__ import annotations

import socket
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from cluster.settings import ClusterSettings, split_commas
from sfu.signaling.data_budget import DataLimits
from sfu.signaling.turn import TurnConfig
from sfu.webrtc.datapath_py import MAX_SEGMENTS

DEFAULT_UDP_PORT = 7882
_DATA = DataLimits()


class NodeSettings(ClusterSettings):
    node_host: str = "0.0.0.0"
    node_port: int = Field(default=7880, ge=0, le=65535)
    node_id: str = ""
    node_url: str = ""
    node_capacity: int = Field(default=100, gt=0)
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    default_layer: int = Field(default=1, ge=0, le=2)
    start_bitrate_kbps: int = Field(default=2500, ge=0)
    remb_bps: int = Field(default=3_000_000, gt=0)
    uplink_repair: bool = True  # NACK publishers' lost packets, unwrap their RTX
    transport_cc: bool = True  # estimate subscribers' downlinks from transport-cc feedback
    turn_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    turn_secret: str = ""
    drain_timeout_s: float = Field(default=3600.0, ge=0)
    udp_port: int = Field(default=DEFAULT_UDP_PORT, ge=0, le=65535)
    udp_bind: str = "0.0.0.0"
    tcp_port: int | None = Field(default=None, ge=0, le=65535)
    udp_drain_ms: float = Field(default=0.0, ge=0, le=20)  # 0: read when readable; else a timer
    udp_segments: int = Field(default=MAX_SEGMENTS, ge=1, le=MAX_SEGMENTS)  # per send; 1: no GSO
    consent_timeout_s: float = Field(default=30.0, gt=0)
    subscribe_answer_timeout_s: float = Field(default=15.0, gt=0)
    data_messages_per_s: float = _DATA.messages_per_s
    data_message_burst: float = _DATA.message_burst
    data_bytes_per_s: float = _DATA.bytes_per_s
    data_byte_burst: float = _DATA.byte_burst
    signaling_backlog: int = Field(default=_DATA.receiver_backlog, gt=0)
    tap_backlog_frames: int = Field(default=50, gt=0)
    tap_stall_s: float = Field(default=10.0, gt=0)

    @field_validator("ice_host_addresses", "turn_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("turn_urls")
    @classmethod
    def _turn_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"not a turn: or turns: URL: {url!r}")
        return urls

    @model_validator(mode="after")
    def _data(self) -> NodeSettings:
        self.data_limits()  # raises ValueError naming what is wrong
        return self

    @model_validator(mode="after")
    def _turn_secret(self) -> NodeSettings:
        if self.turn_urls and not self.turn_secret:
            raise ValueError("SFU_TURN_URLS needs SFU_TURN_SECRET (coturn's static-auth-secret)")
        return self

    def ice_tcp_port(self) -> int:
        """The ICE-TCP port (0: none): only beside the ICE-lite UDP port, whose datapath and
        responder it shares."""
        if not self.udp_port:
            return 0
        return self.udp_port if self.tcp_port is None else self.tcp_port

    def data_limits(self) -> DataLimits:
        return DataLimits(
            messages_per_s=self.data_messages_per_s,
            message_burst=self.data_message_burst,
            bytes_per_s=self.data_bytes_per_s,
            byte_burst=self.data_byte_burst,
            receiver_backlog=self.signaling_backlog,
        )

    def turn(self) -> TurnConfig | None:
        return TurnConfig(tuple(self.turn_urls), self.turn_secret) if self.turn_urls else None

    def resolved_id(self) -> str:
        return self.node_id or f"{socket.gethostname()}-{self.node_port}"

    def resolved_url(self) -> str:
        host = "127.0.0.1" if self.node_host in ("0.0.0.0", "") else self.node_host
        return self.node_url or f"ws://{host}:{self.node_port}/v1/signal"
