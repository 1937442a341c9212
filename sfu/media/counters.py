"""Packet counters of a node, with a named reason for every drop.

Plain ints bumped on the packet path (a Prometheus counter per packet would cost a lock each);
``sfu.observability.metrics`` reads them at scrape time.
"""

from __future__ import annotations

import enum


class DropReason(enum.Enum):
    """Why a packet was not forwarded. The value is the metric label."""

    NOT_WEBRTC = "not_webrtc"  # a datagram that is neither STUN, DTLS nor SRTP
    SRTP_UNPROTECT = "srtp_unprotect_failed"  # bad authentication tag, replay, garbage
    MALFORMED_RTP = "malformed_rtp"
    MALFORMED_RTCP = "malformed_rtcp"
    MALFORMED_VP8 = "malformed_vp8"
    UNKNOWN_SSRC = "unknown_ssrc"  # no mid/rid we know of, no learnt SSRC
    UNKNOWN_RID = "unknown_rid"
    SSRC_COLLISION = "ssrc_collision"
    RTX = "publisher_rtx"  # retransmissions and probes: subscribers are served from our history
    LAYER_NOT_SELECTED = "layer_not_selected"
    WAITING_FOR_KEYFRAME = "waiting_for_keyframe"
    TRANSPORT_NOT_READY = "transport_not_ready"
    SEND_FAILED = "send_failed"
    TOO_OLD = "too_old"  # from before the subscriber's current start/switch point
    PAUSED = "paused"
    MUTED = "muted_by_server"  # audio of a track the REST API muted (its video is paused)
    # NACKed sequence numbers not resent: beyond what a history holds (per compound and stream),
    # or past the subscription's resend rate (sfu.media.history_py)
    NACK_OVER_LIMIT = "nack_over_limit"
    NACK_RATE_LIMITED = "nack_rate_limited"
    INTERNAL_ERROR = "internal_error"

    # Members are singletons: identity hashing (C) instead of Enum's hash of the name (Python),
    # since a drop is counted per packet.
    __hash__ = object.__hash__


class MediaCounters:
    """Node-wide totals. One instance per node process, shared by every track."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "clamped_estimates",
        "drops",
        "packets_in",
        "packets_out",
        "retransmits",
    )

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.retransmits = 0
        self.clamped_estimates = 0  # REMB values outside any plausible range
        self.drops: dict[DropReason, int] = dict.fromkeys(DropReason, 0)

    def drop(self, reason: DropReason, count: int = 1) -> None:
        self.drops[reason] += count
