"""Packet counters of a node, with a named reason for every drop.

Plain ints bumped on the packet path (a Prometheus counter per packet would cost a lock each);
``sfu.observability.metrics`` reads them at scrape time.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from cython_ext.twins import load

if TYPE_CHECKING:  # the kernel, as cython_ext.twins selects (imported here: the twins need
    from sfu.media.counts_py import Counts  # this module's drop codes)
else:
    Counts = load("counts").Counts


class DropReason(enum.Enum):
    """Why a packet was not forwarded. The value is the metric label; ``code`` is the int the
    kernels return for it (cython_ext/drops.pxd declares the same codes)."""

    _value_: str
    code: int

    def __new__(cls, label: str, code: int) -> DropReason:
        reason = object.__new__(cls)
        reason._value_ = label
        reason.code = code
        return reason

    NOT_WEBRTC = "not_webrtc", 1  # a datagram that is neither STUN, DTLS nor SRTP
    SRTP_UNPROTECT = "srtp_unprotect_failed", 2  # bad authentication tag, replay, garbage
    MALFORMED_RTP = "malformed_rtp", 3
    MALFORMED_RTCP = "malformed_rtcp", 4
    MALFORMED_VP8 = "malformed_vp8", 5
    UNKNOWN_SSRC = "unknown_ssrc", 6  # no mid/rid we know of, no learnt SSRC
    UNKNOWN_RID = "unknown_rid", 7
    SSRC_COLLISION = "ssrc_collision", 8
    # a publisher's RTX packet not unwrapped: probe padding, or uplink repair switched off
    RTX = "publisher_rtx", 9
    LAYER_NOT_SELECTED = "layer_not_selected", 10
    WAITING_FOR_KEYFRAME = "waiting_for_keyframe", 11
    TRANSPORT_NOT_READY = "transport_not_ready", 12
    SEND_FAILED = "send_failed", 13
    TOO_OLD = "too_old", 14  # from before the subscriber's current start/switch point
    PAUSED = "paused", 15
    MUTED = "muted_by_server", 16  # audio of a track the REST API muted (its video is paused)
    # NACKed sequence numbers not resent: beyond what a history holds (per compound and stream),
    # or past the subscription's resend rate (sfu.media.history_py)
    NACK_OVER_LIMIT = "nack_over_limit", 17
    NACK_RATE_LIMITED = "nack_rate_limited", 18
    INTERNAL_ERROR = "internal_error", 19
    # Datagrams on the node's UDP port that got no answer (`PORT_DROPS`: sfu_udp_dropped)
    UNKNOWN_ADDRESS = "unknown_address", 20  # DTLS/SRTP from an address no check authenticated
    STUN_OVERSIZED = "stun_oversized", 21
    STUN_RATE_LIMITED = "stun_rate_limited", 22
    STUN_MALFORMED = "stun_malformed", 23  # unparsable, bad FINGERPRINT, no magic cookie
    STUN_NOT_A_CHECK = "stun_not_binding_request", 24
    # no USERNAME, MESSAGE-INTEGRITY or FINGERPRINT
    STUN_UNAUTHENTICATED = "stun_unauthenticated", 25
    STUN_UNKNOWN_UFRAG = "stun_unknown_ufrag", 26
    STUN_WRONG_REMOTE_UFRAG = "stun_wrong_remote_ufrag", 27
    STUN_BAD_INTEGRITY = "stun_bad_integrity", 28
    STUN_AMPLIFICATION = "stun_response_too_large", 29
    DTLS_QUEUE_FULL = "dtls_queue_full", 30
    MEDIA_BEFORE_KEYS = "srtp_before_keys", 31  # the DTLS handshake has not given keys yet
    SEND_BUFFER_FULL = "send_buffer_full", 32  # a STUN answer or DTLS record the kernel refused
    # media again: a payload type the publisher did not negotiate for the track
    UNKNOWN_PAYLOAD_TYPE = "unknown_payload_type", 33
    # a packet the layer already has: a repair that came after all, a duplicate on the network
    DUPLICATE = "duplicate", 34
    # transport-cc feedback (RTCP) not taken: a repeated or older feedback count; or about
    # transport seqs we never sent (or no longer remember)
    TRANSPORT_FEEDBACK_STALE = "transport_feedback_stale", 35
    TRANSPORT_FEEDBACK_UNKNOWN = "transport_feedback_unknown", 36
    # an H.264 payload mode 1 forbids or that cannot hold what it says (sfu.rtp.rtp_py)
    MALFORMED_H264 = "malformed_h264", 37
    # ICE-TCP connections closed (`TCP_DROPS`: sfu_tcp_dropped): a frame longer than a datagram
    # can be; a frame of zero bytes or not WebRTC (STUN, DTLS, SRTP); no authenticated check
    # within a bound; over the connections allowed per source address
    TCP_FRAME_TOO_LARGE = "tcp_frame_too_large", 38
    TCP_BAD_FRAME = "tcp_bad_frame", 39
    TCP_NO_CHECK = "tcp_no_check", 40
    TCP_CONNECTIONS_LIMITED = "tcp_connections_limited", 41

    # Members are singletons: identity hashing (C) instead of Enum's hash of the name (Python),
    # since a drop is counted per packet.
    __hash__ = object.__hash__

    @classmethod
    def of(cls, code: int) -> DropReason:
        """The reason a kernel returned as ``code``."""
        return _BY_CODE[code]


_BY_CODE = {reason.code: reason for reason in DropReason}
# What the ICE-lite port drops before any media is involved (NOT_WEBRTC is counted by both).
_PORT_CODES = range(DropReason.UNKNOWN_ADDRESS.code, DropReason.SEND_BUFFER_FULL.code + 1)
_TCP_CODES = range(DropReason.TCP_FRAME_TOO_LARGE.code, DropReason.TCP_CONNECTIONS_LIMITED.code + 1)
PORT_DROPS = (DropReason.NOT_WEBRTC, *(r for r in DropReason if r.code in _PORT_CODES))
TCP_DROPS = tuple(r for r in DropReason if r.code in _TCP_CODES)
MEDIA_DROPS = tuple(r for r in DropReason if r.code not in _PORT_CODES and r.code not in _TCP_CODES)


class MediaCounters(Counts):
    """Node-wide totals. One instance per node process, shared by every track; the packet path
    counts by code (``Counts``), readers see reasons."""

    __slots__ = ()

    def drop(self, reason: DropReason, count: int = 1) -> None:
        self.add_drop(reason.code, count)

    @property
    def drops(self) -> dict[DropReason, int]:
        return {reason: self.dropped(reason.code) for reason in MEDIA_DROPS}
