"""The ICE-lite responder's decisions on one STUN datagram: drop (and why) or answer.

Pure functions over bytes and credentials, so every refusal is testable without a socket. A
refusal is silent (no 400/401 as RFC 8445 would send): no oracle for guessing ufrags, and no
reflection of spoofed traffic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aioice import stun

from sfu.webrtc.datapath_py import Address

MAX_STUN_BYTES = 600  # real checks are ~100-160 B; anything far larger is not a check
MAGIC_COOKIE = b"\x21\x12\xa4\x42"
FINGERPRINT_HEADER = b"\x80\x28\x00\x04"  # type and length; it must be the last attribute


class UdpDrop(enum.Enum):
    """Why a datagram on the node's UDP port got no answer. The value is the metric label."""

    UNKNOWN_ADDRESS = "unknown_address"  # DTLS/SRTP from an address no check authenticated
    NOT_WEBRTC = "not_webrtc"  # first byte neither STUN, DTLS nor SRTP (RFC 7983)
    OVERSIZED = "stun_oversized"
    RATE_LIMITED = "stun_rate_limited"
    MALFORMED = "stun_malformed"  # unparsable, bad FINGERPRINT, no magic cookie
    NOT_A_CHECK = "stun_not_binding_request"
    UNAUTHENTICATED = "stun_unauthenticated"  # no USERNAME, MESSAGE-INTEGRITY or FINGERPRINT
    UNKNOWN_UFRAG = "stun_unknown_ufrag"
    WRONG_REMOTE_UFRAG = "stun_wrong_remote_ufrag"
    BAD_INTEGRITY = "stun_bad_integrity"
    AMPLIFICATION = "stun_response_too_large"
    QUEUE_FULL = "dtls_queue_full"
    MEDIA_BEFORE_KEYS = "srtp_before_keys"  # the DTLS handshake has not given keys yet
    SEND_BUFFER_FULL = "send_buffer_full"  # a STUN answer or DTLS record the kernel refused


@dataclass(frozen=True, slots=True)
class Check:
    """A binding request that is well formed; not yet authenticated."""

    message: stun.Message
    local_ufrag: str
    remote_ufrag: str
    nominated: bool  # USE-CANDIDATE


def parse_check(data: bytes) -> Check | UdpDrop:
    """Parse a binding request and check its shape; FINGERPRINT is verified while parsing."""
    if len(data) > MAX_STUN_BYTES:
        return UdpDrop.OVERSIZED
    if data[4:8] != MAGIC_COOKIE:
        return UdpDrop.MALFORMED
    if data[-8:-4] != FINGERPRINT_HEADER:
        return UdpDrop.UNAUTHENTICATED
    try:
        message = stun.parse_message(data)
    except Exception:  # ValueError, struct.error, UnicodeDecodeError: all just garbage
        return UdpDrop.MALFORMED
    if message.message_method != stun.Method.BINDING or message.message_class != (
        stun.Class.REQUEST
    ):
        return UdpDrop.NOT_A_CHECK
    attributes = message.attributes
    if not {"USERNAME", "MESSAGE-INTEGRITY", "FINGERPRINT"} <= attributes.keys():
        return UdpDrop.UNAUTHENTICATED
    local, sep, remote = str(attributes["USERNAME"]).partition(":")
    if not sep or not local or not remote:
        return UdpDrop.UNAUTHENTICATED
    return Check(message, local, remote, "USE-CANDIDATE" in attributes)


def verify(check: Check, *, password: bytes, remote_ufrag: str | None) -> UdpDrop | None:
    """None when the check is from the peer that owns ``password`` (its ufrag, if known yet)."""
    if remote_ufrag is not None and check.remote_ufrag != remote_ufrag:
        return UdpDrop.WRONG_REMOTE_UFRAG
    if not check.message.check_message_integrity(password):
        return UdpDrop.BAD_INTEGRITY
    return None


def binding_response(
    check: Check, source: Address, *, password: bytes, request_size: int
) -> bytes | UdpDrop:
    """The success response (XOR-MAPPED-ADDRESS, integrity, fingerprint), never larger than
    the request it answers."""
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=check.message.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = source
    response.add_message_integrity(password)
    data = bytes(response)
    return data if len(data) <= request_size else UdpDrop.AMPLIFICATION
