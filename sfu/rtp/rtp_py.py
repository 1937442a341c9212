"""Per-packet RTP kernels in pure Python: the spec that cython_ext/rtp.pyx must match.

Both implementations take the same arguments, return the same values and raise ValueError
with the same messages; tests/sfu/rtp/ runs one suite against both. Import them through
sfu.rtp.kernels, never directly.

Integer fields are masked to their wire width (seq & 0xFFFF, ...), so callers may pass
extended counters. The compiled twin types them as C long long: ints outside the signed
64-bit range raise OverflowError there.
"""

import struct

_FIXED = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, seq, timestamp, ssrc (RFC 3550 §5.1)
_EXT_HEADER = struct.Struct("!HH")  # profile, length in 32-bit words (RFC 3550 §5.3.1)
# Where rewrite_rtp puts the transport-wide seq's 2 bytes: after the fixed header, the 0xBEDE
# profile word and the element's id/length byte.
TRANSPORT_SEQ_AT = 17

ParsedRtp = tuple[int, int, int, int, bool, int, int, bytes | None, bytes | None, bytes | None, int]
Vp8Descriptor = tuple[bool, bool, int, int, int, int]


def parse_rtp(
    data: bytes, mid_id: int, rid_id: int, rrid_id: int, audio_level_id: int
) -> ParsedRtp:
    """Parse the RTP header (RFC 3550 §5.1) and the negotiated extensions (RFC 8285).

    Returns (ssrc, payload_type, seq, timestamp, marker, payload_offset, payload_end,
    mid, rid, repaired_rid, audio_level). An id of 0 means "not negotiated". mid/rid/
    repaired_rid are the raw element bytes or None; audio_level is the raw RFC 6464 byte
    (V bit + level) or -1. If an id appears twice, the last element wins.
    """
    n = len(data)
    if n < 12:
        raise ValueError("rtp too short")
    b0, b1, seq, timestamp, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        raise ValueError("rtp version is not 2")
    offset = 12 + 4 * (b0 & 0x0F)
    if offset > n:
        raise ValueError("rtp csrc list truncated")
    values: dict[int, bytes] = {}
    if b0 & 0x10:
        if offset + 4 > n:
            raise ValueError("rtp extension truncated")
        profile, words = _EXT_HEADER.unpack_from(data, offset)
        start, offset = offset + 4, offset + 4 + 4 * words
        if offset > n:
            raise ValueError("rtp extension truncated")
        values = _extension_elements(data[start:offset], profile)
    end = n
    if b0 & 0x20:
        padding = data[-1]
        if padding == 0 or padding > n - offset:
            raise ValueError("rtp padding invalid")
        end = n - padding
    level = values.get(audio_level_id, b"") if audio_level_id > 0 else b""
    return (
        ssrc,
        b1 & 0x7F,
        seq,
        timestamp,
        bool(b1 & 0x80),
        offset,
        end,
        values.get(mid_id) if mid_id > 0 else None,
        values.get(rid_id) if rid_id > 0 else None,
        values.get(rrid_id) if rrid_id > 0 else None,
        level[0] if level else -1,
    )


def _extension_elements(block: bytes, profile: int) -> dict[int, bytes]:
    """Map id -> value for the RFC 8285 one-byte (0xBEDE) or two-byte (0x100x) profile.

    Id 0 is a padding byte in both; id 15 ends a one-byte block (RFC 8285 §4.2). Any other
    profile is not ours to read and yields nothing.
    """
    one_byte = profile == 0xBEDE
    if not one_byte and profile & 0xFFF0 != 0x1000:
        return {}
    values: dict[int, bytes] = {}
    i, n = 0, len(block)
    while i < n:
        if block[i] == 0 or (one_byte and block[i] >> 4 == 0):
            i += 1  # padding; a one-byte id 0 is skipped whatever its length nibble
            continue
        if one_byte:
            ext_id, length, i = block[i] >> 4, (block[i] & 0x0F) + 1, i + 1
            if ext_id == 15:
                break
        else:
            if i + 2 > n:
                raise ValueError("rtp extension truncated")
            ext_id, length, i = block[i], block[i + 1], i + 2
        if i + length > n:
            raise ValueError("rtp extension truncated")
        values[ext_id] = block[i : i + length]
        i += length
    return values


def rewrite_rtp(
    data: bytes,
    payload_offset: int,
    ssrc: int,
    payload_type: int,
    seq: int,
    timestamp: int,
    marker: bool,
    mid_id: int,
    mid: bytes,
    abs_send_time_id: int,
    abs_send_time: int,
    audio_level_id: int,
    audio_level: int,
    picture_id: int,
    tl0picidx: int,
    transport_cc_id: int = 0,
) -> bytes:
    """Build the packet we forward: a fresh header, our own extensions, the same payload.

    CSRCs and the sender's extensions are dropped; the P bit and data[payload_offset:]
    (payload and padding) are kept. Extensions use the one-byte profile (RFC 8285 §4.2), in
    the order transport-wide seq, mid, abs-send-time, audio level; an id <= 0 (or an empty mid,
    a negative level) leaves one out. The transport-wide seq is written as 0 at TRANSPORT_SEQ_AT:
    the transport stamps it when the packet leaves (``SendLog``), since it counts every packet
    of the transport in send order. picture_id/tl0picidx >= 0 overwrite those VP8 descriptor
    fields in their original width (RFC 7741 §4.2); the descriptor may run up to the end of data.
    """
    if not 12 <= payload_offset <= len(data):
        raise ValueError("rtp payload offset out of range")
    if max(mid_id, abs_send_time_id, audio_level_id, transport_cc_id) > 14:
        raise ValueError("rtp extension id out of range")
    if len(mid) > 16:
        raise ValueError("rtp mid too long")
    payload = bytearray(data[payload_offset:])
    if picture_id >= 0 or tl0picidx >= 0:
        _rewrite_vp8(payload, picture_id, tl0picidx)

    elements = bytearray()
    if transport_cc_id > 0:
        elements += bytes([transport_cc_id << 4 | 1, 0, 0])
    if mid_id > 0 and mid:
        elements += bytes([mid_id << 4 | (len(mid) - 1)]) + mid
    if abs_send_time_id > 0:
        elements += bytes([abs_send_time_id << 4 | 2]) + (abs_send_time & 0xFFFFFF).to_bytes(3)
    if audio_level_id > 0 and audio_level >= 0:
        elements += bytes([audio_level_id << 4, audio_level & 0xFF])
    extension = b""
    if elements:
        elements += bytes(-len(elements) % 4)
        extension = _EXT_HEADER.pack(0xBEDE, len(elements) // 4) + elements

    b0 = 0x80 | (data[0] & 0x20) | (0x10 if extension else 0)
    b1 = (0x80 if marker else 0) | (payload_type & 0x7F)
    header = _FIXED.pack(b0, b1, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
    return header + extension + payload


def unwrap_rtx(
    data: bytes, payload_offset: int, payload_end: int, payload_type: int, ssrc: int
) -> bytes:
    """The packet an RTX packet repairs (RFC 4588 §4): the same header with the original
    sequence number (the payload's first two bytes), the media stream's payload type and SSRC
    and no P bit, then the original payload. Extensions stay; the RTX packet's padding goes."""
    if not 12 <= payload_offset <= payload_end <= len(data):
        raise ValueError("rtp payload offset out of range")
    if payload_end - payload_offset < 2:
        raise ValueError("rtx payload without an original sequence number")
    header = bytearray(data[:payload_offset])
    header[0] &= 0xDF
    header[1] = (header[1] & 0x80) | (payload_type & 0x7F)
    header[2:4] = data[payload_offset : payload_offset + 2]
    header[8:12] = (ssrc & 0xFFFFFFFF).to_bytes(4)
    return bytes(header) + data[payload_offset + 2 : payload_end]


def wrap_rtx(data: bytes, payload_type: int, seq: int, ssrc: int) -> bytes:
    """A packet as its retransmission on an RTX stream (RFC 4588 §4): the same header with the
    RTX payload type, sequence number and SSRC, then the original sequence number and what
    followed the header (payload and padding: the receiver strips the padding of the RTX
    packet, which leaves exactly the original payload)."""
    offset = parse_rtp(data, 0, 0, 0, 0)[5]
    header = bytearray(data[:offset])
    header[1] = (header[1] & 0x80) | (payload_type & 0x7F)
    header[2:4] = (seq & 0xFFFF).to_bytes(2)
    header[8:12] = (ssrc & 0xFFFFFFFF).to_bytes(4)
    return bytes(header) + data[2:4] + data[offset:]


def _rewrite_vp8(payload: bytearray, picture_id: int, tl0picidx: int) -> None:
    """Overwrite PictureID / TL0PICIDX in place, when the descriptor carries them."""
    _, _, pid_at, pid_bits, tl0_at = vp8_layout(payload, 0, len(payload))
    if picture_id >= 0 and pid_at >= 0:
        if pid_bits == 15:
            payload[pid_at : pid_at + 2] = (0x8000 | (picture_id & 0x7FFF)).to_bytes(2)
        else:
            payload[pid_at] = picture_id & 0x7F
    if tl0picidx >= 0 and tl0_at >= 0:
        payload[tl0_at] = tl0picidx & 0xFF


def vp8_layout(data: bytes | bytearray, start: int, end: int) -> tuple[int, int, int, int, int]:
    """-> (descriptor end, T/K byte offset, PictureID offset, its bits, TL0PICIDX offset).

    Offsets are -1 when absent. Layout per RFC 7741 §4.2: X|R|N|S|R|PID, then if X:
    I|L|T|K|RSV, then PictureID (1 or 2 bytes, M bit), TL0PICIDX, TID|Y|KEYIDX.
    """
    if start >= end:
        raise ValueError("vp8 descriptor truncated")
    i, pid_at, pid_bits, tl0_at, tk_at = start + 1, -1, 0, -1, -1
    if data[start] & 0x80:
        if i >= end:
            raise ValueError("vp8 descriptor truncated")
        flags, i = data[i], i + 1
        if flags & 0x80:
            if i >= end:
                raise ValueError("vp8 descriptor truncated")
            pid_at, pid_bits = i, 15 if data[i] & 0x80 else 7
            i += 2 if pid_bits == 15 else 1
        if flags & 0x40:
            tl0_at, i = i, i + 1
        if flags & 0x30:
            tk_at, i = i, i + 1
        if i > end:
            raise ValueError("vp8 descriptor truncated")
    return i, tk_at, pid_at, pid_bits, tl0_at


def vp8_descriptor(data: bytes, payload_offset: int, payload_end: int) -> Vp8Descriptor:
    """Read the VP8 payload descriptor (RFC 7741 §4.2) at the start of the payload.

    Returns (keyframe, start_of_partition, picture_id, tl0picidx, tid, keyidx), -1 for
    absent fields. A keyframe starts partition 0 (S=1, PID=0) and its VP8 payload header
    has the inverse key frame flag P (bit 0 of its first byte) clear (RFC 7741 §4.3).
    """
    if payload_offset < 0 or payload_end > len(data):
        raise ValueError("rtp payload offset out of range")
    end, tk_at, pid_at, pid_bits, tl0_at = vp8_layout(data, payload_offset, payload_end)
    b0 = data[payload_offset]
    start = bool(b0 & 0x10) and (b0 & 0x07) == 0
    picture_id = -1
    if pid_at >= 0:
        picture_id = data[pid_at] & 0x7F
        if pid_bits == 15:
            picture_id = picture_id << 8 | data[pid_at + 1]
    flags = data[payload_offset + 1] if b0 & 0x80 else 0
    return (
        start and end < payload_end and not (data[end] & 0x01),
        start,
        picture_id,
        data[tl0_at] if tl0_at >= 0 else -1,
        data[tk_at] >> 6 if flags & 0x20 else -1,
        data[tk_at] & 0x1F if flags & 0x10 else -1,
    )


# H.264 NAL unit types (RFC 6184 §5.2, ITU-T H.264 Table 7-1) an SFU reads
H264_IDR, H264_SPS, H264_STAP_A, H264_FU_A = 5, 7, 24, 28


def h264_keyframe(data: bytes, payload_offset: int, payload_end: int) -> bool:
    """Whether an H.264 payload (RFC 6184, packetization mode 1) starts a keyframe: it carries
    an SPS or an IDR slice, alone, in a STAP-A, or at the start of an FU-A. Chrome and libx264
    send the SPS and PPS right before each IDR, so the SPS packet is where a switch can start.

    Raises ValueError for what mode 1 forbids or a packet cannot hold: a forbidden bit set,
    reserved types (0, 30, 31), interleaved-mode types (STAP-B, MTAPs, FU-B), a STAP-A whose
    lengths run past the payload or hold an empty unit, an FU-A without a byte of its unit.
    """
    if not 0 <= payload_offset < payload_end <= len(data):
        raise ValueError("rtp payload offset out of range")
    header = data[payload_offset]
    kind = header & 0x1F
    if header & 0x80:
        raise ValueError("h264 forbidden bit set")
    if kind in (0, 30, 31):
        raise ValueError("h264 reserved nal unit type")
    if kind < H264_STAP_A:
        return kind in (H264_IDR, H264_SPS)
    if kind == H264_STAP_A:
        keyframe, at = False, payload_offset + 1
        if at >= payload_end:
            raise ValueError("h264 stap-a truncated")
        while at < payload_end:
            if at + 2 > payload_end:
                raise ValueError("h264 stap-a truncated")
            size = data[at] << 8 | data[at + 1]
            if size == 0 or at + 2 + size > payload_end:
                raise ValueError("h264 stap-a truncated")
            unit = data[at + 2]
            if unit & 0x80:
                raise ValueError("h264 forbidden bit set")
            keyframe = keyframe or (unit & 0x1F) in (H264_IDR, H264_SPS)
            at += 2 + size
        return keyframe
    if kind == H264_FU_A:
        if payload_end - payload_offset < 3:
            raise ValueError("h264 fu-a truncated")
        fu = data[payload_offset + 1]
        return bool(fu & 0x80) and (fu & 0x1F) in (H264_IDR, H264_SPS)
    raise ValueError("h264 nal unit type not in packetization mode 1")
