"""The ICE-lite responder's decisions on one STUN datagram: drop (and why) or answer.

Pure functions over bytes and credentials, so every refusal is testable without a socket. A
refusal is silent (no 400/401 as RFC 8445 would send): no oracle for guessing ufrags, and no
reflection of spoofed traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioice import stun

from sfu.media.counters import DropReason
from sfu.webrtc.datapath_py import Address

MAX_STUN_BYTES = 600  # real checks are ~100-160 B; anything far larger is not a check
MAGIC_COOKIE = b"\x21\x12\xa4\x42"
FINGERPRINT_HEADER = b"\x80\x28\x00\x04"  # type and length; it must be the last attribute


@dataclass(frozen=True, slots=True)
class Check:
    """A binding request that is well formed; not yet authenticated."""

    message: stun.Message
    local_ufrag: str
    remote_ufrag: str
    nominated: bool  # USE-CANDIDATE


def parse_check(data: bytes) -> Check | DropReason:
    """Parse a binding request and check its shape; FINGERPRINT is verified while parsing."""
    if len(data) > MAX_STUN_BYTES:
        return DropReason.STUN_OVERSIZED
    if data[4:8] != MAGIC_COOKIE:
        return DropReason.STUN_MALFORMED
    if data[-8:-4] != FINGERPRINT_HEADER:
        return DropReason.STUN_UNAUTHENTICATED
    try:
        message = stun.parse_message(data)
    except Exception:  # ValueError, struct.error, UnicodeDecodeError: all just garbage
        return DropReason.STUN_MALFORMED
    if message.message_method != stun.Method.BINDING or message.message_class != (
        stun.Class.REQUEST
    ):
        return DropReason.STUN_NOT_A_CHECK
    attributes = message.attributes
    if not {"USERNAME", "MESSAGE-INTEGRITY", "FINGERPRINT"} <= attributes.keys():
        return DropReason.STUN_UNAUTHENTICATED
    local, sep, remote = str(attributes["USERNAME"]).partition(":")
    if not sep or not local or not remote:
        return DropReason.STUN_UNAUTHENTICATED
    return Check(message, local, remote, "USE-CANDIDATE" in attributes)


def verify(check: Check, *, password: bytes, remote_ufrag: str | None) -> DropReason | None:
    """None when the check is from the peer that owns ``password`` (its ufrag, if known yet)."""
    if remote_ufrag is not None and check.remote_ufrag != remote_ufrag:
        return DropReason.STUN_WRONG_REMOTE_UFRAG
    if not check.message.check_message_integrity(password):
        return DropReason.STUN_BAD_INTEGRITY
    return None


def binding_response(
    check: Check, source: Address, *, password: bytes, request_size: int
) -> bytes | DropReason:
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
    return data if len(data) <= request_size else DropReason.STUN_AMPLIFICATION
