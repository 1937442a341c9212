"""Media settings every participant of a node shares."""

from __future__ import annotations

from dataclasses import dataclass

from sfu.media.counters import MediaCounters
from sfu.webrtc.certificate import NodeCertificate
from sfu.webrtc.udpmux import UdpMux


@dataclass(frozen=True, slots=True)
class MediaConfig:
    counters: MediaCounters
    default_layer: int
    start_bitrate_kbps: int
    remb_bps: int
    answer_timeout_s: float  # a subscribe offer unanswered this long ends the session
    certificate: NodeCertificate  # DTLS, for every peer connection of the node
    mux: UdpMux | None = None  # the node's ICE-lite port (SFU_UDP_PORT), else aioice's ports
    uplink_repair: bool = True  # NACK publishers' lost packets, unwrap their RTX
    transport_cc: bool = True  # estimate subscribers' downlinks from transport-cc feedback
