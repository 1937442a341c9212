"""RTP and RTCP bytes for synthetic participants: building what publishers send, reading just
enough of what subscribers receive (no depacketizing, no decoding).

Every payload ends with a 12-byte trailer carrying its send time (``CLOCK_MONOTONIC``, shared by
all processes of the machine); SFUs forward payloads untouched, so a subscriber reads the
end-to-end delay of every packet from it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

TRAILER_MAGIC = b"LdT1"
TRAILER = struct.Struct("!4sQ")
MAX_PAYLOAD = 1100  # of VP8 data per packet, keeps packets under 1200 bytes
VP8_DESCRIPTOR = 4  # X, I and a 15-bit picture id

ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
RTCP_SR, RTCP_RR, RTCP_PSFB, RTCP_RTPFB = 200, 201, 206, 205
PLI_FMT, FIR_FMT, NACK_FMT = 1, 4, 1


def one_byte_extensions(items: list[tuple[int, bytes]]) -> bytes:
    """An RFC 8285 one-byte header extension block (0xBEDE), padded to 32 bits."""
    body = b"".join(bytes([(ext_id << 4) | (len(value) - 1)]) + value for ext_id, value in items)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", ONE_BYTE_PROFILE, len(body) // 4) + body


def build_rtp(
    pt: int, seq: int, ts: int, ssrc: int, marker: bool, extensions: bytes, payload: bytes
) -> bytes:
    first = 0x90 if extensions else 0x80
    header = struct.pack(
        "!BBHII", first, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )
    return header + extensions + payload


def stamp(payload: bytes, send_ns: int) -> bytes:
    return payload + TRAILER.pack(TRAILER_MAGIC, send_ns)


def vp8_payloads(frame: bytes, picture_id: int) -> Iterator[bytes]:
    """RFC 7741 packetization: a 4-byte descriptor (S bit on the first packet) per chunk."""
    pid = struct.pack("!H", 0x8000 | (picture_id & 0x7FFF))
    for offset in range(0, len(frame), MAX_PAYLOAD):
        start = 0x10 if offset == 0 else 0
        yield bytes([0x80 | start, 0x80]) + pid + frame[offset : offset + MAX_PAYLOAD]


class RtpView(NamedTuple):
    """The fields a counting subscriber needs from one received RTP packet."""

    ssrc: int
    pt: int
    seq: int
    ts: int
    marker: bool
    payload_start: int
    send_ns: int  # 0 when the packet carries no trailer (padding, probes)


def read_rtp(data: bytes) -> RtpView:
    """Parse the fixed header, skip CSRCs and extensions; raises ValueError if malformed."""
    if len(data) < 12 or data[0] >> 6 != 2:
        raise ValueError("not RTP")
    start = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < start + 4:
            raise ValueError("truncated extension")
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data) - (data[-1] if data[0] & 0x20 else 0)
    if start > end:
        raise ValueError("truncated RTP")
    send_ns = 0
    if end - start >= TRAILER.size:
        magic, value = TRAILER.unpack_from(data, end - TRAILER.size)
        send_ns = value if magic == TRAILER_MAGIC else 0
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    return RtpView(ssrc, data[1] & 0x7F, seq, ts, bool(data[1] & 0x80), start, send_ns)


def one_byte_extension(data: bytes, ext_id: int) -> bytes | None:
    """The value of the first RFC 8285 one-byte-header element with ``ext_id`` of a packet
    ``read_rtp`` accepted, or None (no such element, another profile). Every element is walked,
    wherever the one asked for sits: one running past the block raises ValueError."""
    if not data[0] & 0x10:
        return None
    at = 12 + 4 * (data[0] & 0x0F)
    profile, words = struct.unpack_from("!HH", data, at)
    if profile != ONE_BYTE_PROFILE:
        return None
    pos, end = at + 4, at + 4 + 4 * words
    found = None
    while pos < end:
        element, length = data[pos] >> 4, (data[pos] & 0x0F) + 1
        if element == 0:  # padding
            pos += 1
            continue
        if element == 15:  # reserved: the block ends here (RFC 8285 §4.2)
            break
        if pos + 1 + length > end:
            raise ValueError("header extension element overruns its block")
        if element == ext_id and found is None:
            found = data[pos + 1 : pos + 1 + length]
        pos += 1 + length
    return found


def vp8_keyframe_height(data: bytes, payload_start: int) -> int | None:
    """The frame height if this packet starts a VP8 keyframe, else None (RFC 7741 §4.3, RFC 6386
    §9.1)."""
    offset = payload_start
    if len(data) <= offset + 1:
        return None
    first = data[offset]
    if not first & 0x10 or first & 0x07:  # not the start of partition 0
        return None
    offset += 1
    if first & 0x80:
        ext = data[offset]
        offset += 1
        if ext & 0x80:
            if len(data) <= offset:
                return None
            offset += 2 if data[offset] & 0x80 else 1
        if ext & 0x40:
            offset += 1
        if ext & 0x30:
            offset += 1
    if (
        len(data) < offset + 10
        or data[offset] & 1
        or data[offset + 3 : offset + 6] != b"\x9d\x01\x2a"
    ):
        return None
    return int(struct.unpack_from("<H", data, offset + 8)[0] & 0x3FFF)


def build_sr(ssrc: int, wall_s: float, rtp_ts: int, packets: int, octets: int) -> bytes:
    """An RTCP sender report without report blocks (NTP time from ``wall_s``, Unix seconds)."""
    ntp = wall_s + 2_208_988_800
    seconds = int(ntp)
    fraction = int((ntp - seconds) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc,
        seconds & 0xFFFFFFFF,
        fraction,
        rtp_ts & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )


class ReportBlock(NamedTuple):
    """One report block of a receiver report (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # of 256, since the last report
    lost: int  # cumulative; negative with duplicates
    highest: int  # extended highest sequence number
    jitter: int
    lsr: int  # middle 32 bits of the last SR's NTP time, 0 if none
    dlsr: int  # since that SR, in 1/65536 s


def build_rr(sender_ssrc: int, blocks: list[ReportBlock]) -> bytes:
    """A receiver report with up to 31 report blocks."""
    body = b"".join(
        struct.pack(
            "!IIIIII",
            b.ssrc,
            (b.fraction_lost << 24) | (max(-0x800000, min(b.lost, 0x7FFFFF)) & 0xFFFFFF),
            b.highest & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF,
            b.lsr,
            b.dlsr,
        )
        for b in blocks
    )
    header = struct.pack("!BBHI", 0x80 | len(blocks), RTCP_RR, 1 + 6 * len(blocks), sender_ssrc)
    return header + body


def read_sender_reports(data: bytes) -> list[tuple[int, int]]:
    """(SSRC, middle 32 bits of the NTP time) of every SR in an RTCP compound packet."""
    reports = []
    offset = 0
    while offset + 4 <= len(data):
        length = (struct.unpack_from("!H", data, offset + 2)[0] + 1) * 4
        if data[offset + 1] == RTCP_SR and length >= 28 and offset + 16 <= len(data):
            ssrc, seconds, fraction = struct.unpack_from("!III", data, offset + 4)
            reports.append((ssrc, ((seconds & 0xFFFF) << 16) | (fraction >> 16)))
        offset += length
    return reports


class Feedback(NamedTuple):
    """Keyframe requests and NACKs in one compound RTCP packet, by media SSRC."""

    keyframe_requests: list[int]
    nacks: list[int]


def read_feedback(data: bytes) -> Feedback:
    """PLI, FIR and generic NACK from an RTCP compound packet; everything else is skipped."""
    keys: list[int] = []
    nacks: list[int] = []
    offset = 0
    while offset + 4 <= len(data):
        fmt, ptype = data[offset] & 0x1F, data[offset + 1]
        length = (struct.unpack_from("!H", data, offset + 2)[0] + 1) * 4
        if offset + min(length, 12) > len(data):
            break
        if ptype == RTCP_PSFB and fmt == PLI_FMT and length >= 12:
            keys.append(struct.unpack_from("!I", data, offset + 8)[0])
        elif ptype == RTCP_PSFB and fmt == FIR_FMT and length >= 20:
            keys.append(struct.unpack_from("!I", data, offset + 12)[0])
        elif ptype == RTCP_RTPFB and fmt == NACK_FMT and length >= 12:
            nacks.append(struct.unpack_from("!I", data, offset + 8)[0])
        offset += length
    return Feedback(keys, nacks)
