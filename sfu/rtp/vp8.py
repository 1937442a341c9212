"""VP8 facts the forwarder reads from a keyframe without decoding it (RFC 6386 §9.1)."""

from __future__ import annotations

from sfu.rtp.rtp_py import vp8_layout

_START_CODE = b"\x9d\x01\x2a"


def keyframe_size(data: bytes, payload_offset: int, payload_end: int) -> tuple[int, int] | None:
    """(width, height) from the first packet of a VP8 keyframe, None if it is not one.

    After the payload descriptor come the 3-byte frame tag, the start code 9d 01 2a, and two
    little-endian 16-bit fields whose low 14 bits are the width and the height.
    """
    try:
        header = vp8_layout(data, payload_offset, payload_end)[0]
    except ValueError:
        return None
    frame = data[header:payload_end]
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != _START_CODE:
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height
