"""Build RTP packets the way Chrome sends simulcast VP8 and Opus, for packet-path tests."""

from __future__ import annotations

import struct

MID_ID, RID_ID, ABS_ID = 9, 10, 2


def _header(
    seq: int, ts: int, ssrc: int, marker: bool, payload_type: int, mid: bytes, rid: bytes
) -> bytes:
    """The fixed header and the mid/rid extensions Chrome sends."""
    fixed = struct.pack(
        "!BBHII", 0x90, (0x80 if marker else 0) | payload_type, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )
    return fixed + _extensions(mid, rid)


def _extensions(mid: bytes, rid: bytes) -> bytes:
    elements = bytes([MID_ID << 4 | (len(mid) - 1)]) + mid
    if rid:
        elements += bytes([RID_ID << 4 | (len(rid) - 1)]) + rid
    elements += b"\x00" * (-len(elements) % 4)
    return struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements


def vp8_packet(
    *,
    seq: int,
    ts: int,
    ssrc: int,
    picture_id: int,
    tl0picidx: int,
    keyframe: bool,
    start: bool,
    marker: bool,
    body: bytes,
    mid: bytes = b"0",
    rid: bytes = b"",
    size: tuple[int, int] = (640, 360),
) -> bytes:
    """A VP8 packet with a 15-bit PictureID and TL0PICIDX; ``body`` tags the payload."""
    descriptor = bytes([0x90 if start else 0x80, 0xC0]) + struct.pack(
        "!HB", 0x8000 | (picture_id & 0x7FFF), tl0picidx & 0xFF
    )
    if start and keyframe:
        frame = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", *size)
    elif start:
        frame = b"\x31\x04\x00"
    else:
        frame = b""
    return _header(seq, ts, ssrc, marker, 96, mid, rid) + descriptor + frame + body


def h264_packet(
    *,
    seq: int,
    ts: int,
    ssrc: int,
    payload: bytes,
    marker: bool,
    mid: bytes = b"0",
    rid: bytes = b"",
    payload_type: int = 102,
) -> bytes:
    """An H.264 packet (RFC 6184) carrying ``payload`` (see ``stap_a``, ``fu_a``)."""
    return _header(seq, ts, ssrc, marker, payload_type, mid, rid) + payload


def stap_a(*units: bytes) -> bytes:
    """One STAP-A payload aggregating ``units`` (each with its NAL header)."""
    nri = max((u[0] & 0x60 for u in units), default=0x60)
    return bytes([nri | 24]) + b"".join(struct.pack("!H", len(u)) + u for u in units)


def fu_a(unit: bytes, size: int) -> list[bytes]:
    """``unit`` cut into FU-A payloads of at most ``size`` bytes of it each."""
    header, body = unit[0], unit[1:]
    chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        bytes([header & 0xE0 | 28, (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
               | header & 0x1F]) + chunk
        for i, chunk in enumerate(chunks)
    ]  # fmt: skip
