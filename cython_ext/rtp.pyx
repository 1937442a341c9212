# cython: language_level=3
"""Per-packet RTP kernels, compiled. sfu/rtp/rtp_py.py is the spec this file matches.

One Python call per packet: fields are read and written through raw pointers into the
`bytes` objects, and the only objects created are the results (rewrite_rtp allocates
exactly one: the output packet). rewrite() is its C half, for cython_ext.forwarder to call
without a Python call. Import through sfu.rtp.kernels.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset

cdef inline void _found(Parsed* f, int ext_id, Py_ssize_t at, Py_ssize_t length) noexcept nogil:
    cdef int k
    for k in range(WANTED):
        if f.ids[k] > 0 and f.ids[k] == ext_id:  # the last duplicate wins, as in the spec
            f.at[k] = at
            f.length[k] = length


cdef int _scan_extensions(
    const uint8_t* p, Py_ssize_t i, Py_ssize_t end, uint16_t profile, Parsed* f
) noexcept nogil:
    """RFC 8285 elements of p[i:end] into f; -1 if one runs past end."""
    cdef bint one_byte = profile == 0xBEDE
    cdef int ext_id
    cdef Py_ssize_t length
    if not one_byte and (profile & 0xFFF0) != 0x1000:
        return 0  # not an RFC 8285 block: not ours to read
    while i < end:
        if p[i] == 0 or (one_byte and p[i] >> 4 == 0):
            i += 1  # padding; a one-byte id 0 is skipped whatever its length nibble
            continue
        if one_byte:
            ext_id = p[i] >> 4
            length = (p[i] & 0x0F) + 1
            i += 1
            if ext_id == 15:
                break
        else:
            if i + 2 > end:
                return -1
            ext_id = p[i]
            length = p[i + 1]
            i += 2
        if i + length > end:
            return -1
        _found(f, ext_id, i, length)
        i += length
    return 0


cdef inline object _value(const uint8_t* p, Parsed* f, int k):
    if f.at[k] < 0:
        return None
    return PyBytes_FromStringAndSize(<const char*>p + f.at[k], f.length[k])


cdef const char* parse_header(const uint8_t* p, Py_ssize_t n, Parsed* r) noexcept nogil:
    cdef Py_ssize_t offset, start
    cdef int k
    if n < 12:
        return "rtp too short"
    if p[0] >> 6 != 2:
        return "rtp version is not 2"
    offset = 12 + 4 * (p[0] & 0x0F)
    if offset > n:
        return "rtp csrc list truncated"
    for k in range(WANTED):
        r.at[k] = -1
    if p[0] & 0x10:
        if offset + 4 > n:
            return "rtp extension truncated"
        start = offset + 4
        offset = start + 4 * <Py_ssize_t>load16(p + offset + 2)
        if offset > n or _scan_extensions(p, start, offset, load16(p + start - 4), r) < 0:
            return "rtp extension truncated"
    r.end = n
    if p[0] & 0x20:
        if p[n - 1] == 0 or p[n - 1] > n - offset:
            return "rtp padding invalid"
        r.end = n - p[n - 1]
    r.ssrc, r.payload_type, r.seq, r.timestamp = load32(p + 8), p[1] & 0x7F, load16(p + 2), load32(p + 4)
    r.marker = (p[1] & 0x80) != 0
    r.offset = offset
    return NULL


def parse_rtp(bytes data not None, int mid_id, int rid_id, int rrid_id, int audio_level_id):
    """RTP header and negotiated extensions: see sfu.rtp.rtp_py.parse_rtp."""
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef int level = -1
    cdef Parsed r
    cdef const char* error
    r.ids[EXT_MID], r.ids[EXT_RID], r.ids[EXT_RRID] = mid_id, rid_id, rrid_id
    r.ids[EXT_AUDIO_LEVEL] = audio_level_id
    error = parse_header(p, PyBytes_GET_SIZE(data), &r)
    if error != NULL:
        raise ValueError(error.decode())
    if r.at[EXT_AUDIO_LEVEL] >= 0 and r.length[EXT_AUDIO_LEVEL] > 0:
        level = p[r.at[EXT_AUDIO_LEVEL]]
    return (
        r.ssrc, r.payload_type, r.seq, r.timestamp, r.marker, r.offset, r.end,
        _value(p, &r, EXT_MID), _value(p, &r, EXT_RID), _value(p, &r, EXT_RRID), level,
    )


def rewrite_rtp(
    bytes data not None, Py_ssize_t payload_offset, long long ssrc, long long payload_type,
    long long seq, long long timestamp, bint marker, int mid_id, bytes mid not None,
    int abs_send_time_id, long long abs_send_time, int audio_level_id, long long audio_level,
    long long picture_id, long long tl0picidx, int transport_cc_id=0,
):
    """The forwarded packet, in one allocation: see sfu.rtp.rtp_py.rewrite_rtp."""
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef Header h
    if not 12 <= payload_offset <= n:
        raise ValueError("rtp payload offset out of range")
    if mid_id > 14 or abs_send_time_id > 14 or audio_level_id > 14 or transport_cc_id > 14:
        raise ValueError("rtp extension id out of range")
    if PyBytes_GET_SIZE(mid) > 16:
        raise ValueError("rtp mid too long")
    # casts to unsigned keep the low bits: the masks of the spec
    h.ssrc, h.payload_type, h.seq = <uint32_t>ssrc, payload_type & 0x7F, <uint16_t>seq
    h.timestamp, h.marker = <uint32_t>timestamp, marker
    h.transport_cc_id = transport_cc_id
    h.mid_id, h.mid, h.mid_len = mid_id, PyBytes_AS_STRING(mid), PyBytes_GET_SIZE(mid)
    h.abs_send_time_id, h.abs_send_time = abs_send_time_id, abs_send_time & 0xFFFFFF
    h.audio_level_id = audio_level_id
    h.audio_level = audio_level & 0xFF if audio_level >= 0 else -1
    h.picture_id = picture_id & 0x7FFF if picture_id >= 0 else -1
    h.tl0picidx = tl0picidx & 0xFF if tl0picidx >= 0 else -1
    return rewrite(p, n, payload_offset, &h)


cdef Py_ssize_t _rewritten_header(const Header* h) noexcept:
    """The forwarded packet's header length: 12, and its extension block if any."""
    cdef bint write_mid = h.mid_id > 0 and h.mid_len > 0
    cdef bint write_level = h.audio_level_id > 0 and h.audio_level >= 0
    cdef Py_ssize_t body = (1 + h.mid_len if write_mid else 0) + (2 if write_level else 0)
    body += (4 if h.abs_send_time_id > 0 else 0) + (3 if h.transport_cc_id > 0 else 0)
    return 12 + (4 + ((body + 3) & ~3) if body else 0)


cdef Py_ssize_t _check(
    const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h, Vp8Layout* d
) except -1:
    """The forwarded packet's length; ValueError for input rewrite() cannot copy."""
    if not 12 <= payload_offset <= n:
        raise ValueError("rtp payload offset out of range")
    if (h.picture_id >= 0 or h.tl0picidx >= 0) and vp8_layout(p, payload_offset, n, d) < 0:
        raise ValueError("vp8 descriptor truncated")
    return _rewritten_header(h) + n - payload_offset


cdef bytes rewrite(const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h):
    cdef Vp8Layout d
    cdef Py_ssize_t length = _check(p, n, payload_offset, h, &d)
    out = PyBytes_FromStringAndSize(NULL, length)
    _write(p, n, payload_offset, h, &d, <uint8_t*>PyBytes_AS_STRING(out))
    return out


cdef Py_ssize_t rewrite_into(
    const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h, uint8_t* o,
    Py_ssize_t capacity,
) except -1:
    cdef Vp8Layout d
    cdef Py_ssize_t length = _check(p, n, payload_offset, h, &d)
    if length > capacity:
        return 0
    _write(p, n, payload_offset, h, &d, o)
    return length


cdef void _write(
    const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h,
    const Vp8Layout* d, uint8_t* o,
) noexcept:
    """rewrite()'s output into o, the input checked (_check filled d)."""
    cdef bint write_mid = h.mid_id > 0 and h.mid_len > 0
    cdef bint write_level = h.audio_level_id > 0 and h.audio_level >= 0
    cdef Py_ssize_t header = _rewritten_header(h), i
    cdef bint ext = header > 12

    o[0] = 0x80 | (p[0] & 0x20) | (0x10 if ext else 0)
    o[1] = (0x80 if h.marker else 0) | (h.payload_type & 0x7F)
    store16(o + 2, h.seq)
    store32(o + 4, h.timestamp)
    store32(o + 8, h.ssrc)
    if ext:
        store16(o + 12, 0xBEDE)
        store16(o + 14, (header - 16) >> 2)
        i = 16
        if h.transport_cc_id > 0:
            o[i] = (h.transport_cc_id << 4) | 1
            o[i + 1] = o[i + 2] = 0
            i += 3
        if write_mid:
            o[i] = (h.mid_id << 4) | (h.mid_len - 1)
            memcpy(o + i + 1, h.mid, h.mid_len)
            i += 1 + h.mid_len
        if h.abs_send_time_id > 0:
            o[i] = (h.abs_send_time_id << 4) | 2
            o[i + 1] = (h.abs_send_time >> 16) & 0xFF
            o[i + 2] = (h.abs_send_time >> 8) & 0xFF
            o[i + 3] = h.abs_send_time & 0xFF
            i += 4
        if write_level:
            o[i] = h.audio_level_id << 4
            o[i + 1] = h.audio_level
            i += 2
        memset(o + i, 0, header - i)
    memcpy(o + header, p + payload_offset, n - payload_offset)

    if h.picture_id >= 0 or h.tl0picidx >= 0:  # patch the copied descriptor: same layout, shifted
        if h.picture_id >= 0 and d.pid_at >= 0:
            i = d.pid_at - payload_offset + header
            if d.pid_bits == 15:
                store16(o + i, 0x8000 | (h.picture_id & 0x7FFF))
            else:
                o[i] = h.picture_id & 0x7F
        if h.tl0picidx >= 0 and d.tl0_at >= 0:
            o[d.tl0_at - payload_offset + header] = h.tl0picidx


def unwrap_rtx(
    bytes data not None, Py_ssize_t payload_offset, Py_ssize_t payload_end,
    long long payload_type, long long ssrc,
):
    """The packet an RTX packet repairs: see sfu.rtp.rtp_py.unwrap_rtx."""
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    if not 12 <= payload_offset <= payload_end <= PyBytes_GET_SIZE(data):
        raise ValueError("rtp payload offset out of range")
    if payload_end - payload_offset < 2:
        raise ValueError("rtx payload without an original sequence number")
    return unwrap(p, payload_offset, payload_end, payload_type & 0x7F, <uint32_t>ssrc)


def wrap_rtx(bytes data not None, long long payload_type, long long seq, long long ssrc):
    """A packet as its retransmission on an RTX stream: see sfu.rtp.rtp_py.wrap_rtx."""
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef Parsed r
    cdef const char* error
    r.ids[EXT_MID] = r.ids[EXT_RID] = r.ids[EXT_RRID] = r.ids[EXT_AUDIO_LEVEL] = 0
    error = parse_header(p, n, &r)
    if error != NULL:
        raise ValueError(error.decode())
    out = PyBytes_FromStringAndSize(NULL, n + 2)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    memcpy(o, p, r.offset)
    o[1] = (o[1] & 0x80) | (payload_type & 0x7F)
    store16(o + 2, <uint16_t>seq)
    store32(o + 8, <uint32_t>ssrc)
    o[r.offset], o[r.offset + 1] = p[2], p[3]
    memcpy(o + r.offset + 2, p + r.offset, n - r.offset)
    return out


cdef bytes unwrap(
    const uint8_t* p, Py_ssize_t payload_offset, Py_ssize_t payload_end, uint8_t payload_type,
    uint32_t ssrc,
):
    out = PyBytes_FromStringAndSize(NULL, payload_end - 2)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    memcpy(o, p, payload_offset)
    o[0] &= 0xDF
    o[1] = (o[1] & 0x80) | payload_type
    o[2], o[3] = p[payload_offset], p[payload_offset + 1]
    store32(o + 8, ssrc)
    memcpy(o + payload_offset, p + payload_offset + 2, payload_end - payload_offset - 2)
    return out


cdef int vp8_layout(const uint8_t* p, Py_ssize_t start, Py_ssize_t end, Vp8Layout* d) noexcept nogil:
    cdef Py_ssize_t i = start + 1
    d.flags, d.pid_at, d.pid_bits, d.tl0_at, d.tk_at = 0, -1, 0, -1, -1
    if start >= end:
        return -1
    if p[start] & 0x80:
        if i >= end:
            return -1
        d.flags = p[i]
        i += 1
        if d.flags & 0x80:
            if i >= end:
                return -1
            d.pid_at = i
            d.pid_bits = 15 if p[i] & 0x80 else 7
            i += 2 if d.pid_bits == 15 else 1
        if d.flags & 0x40:
            d.tl0_at = i
            i += 1
        if d.flags & 0x30:
            d.tk_at = i
            i += 1
        if i > end:
            return -1
    d.end = i
    return 0


def vp8_descriptor(bytes data not None, Py_ssize_t payload_offset, Py_ssize_t payload_end):
    """VP8 payload descriptor fields: see sfu.rtp.rtp_py.vp8_descriptor."""
    cdef Vp8Fields f
    if payload_offset < 0 or payload_end > PyBytes_GET_SIZE(data):
        raise ValueError("rtp payload offset out of range")
    if vp8_fields(<const uint8_t*>PyBytes_AS_STRING(data), payload_offset, payload_end, &f) < 0:
        raise ValueError("vp8 descriptor truncated")
    return f.keyframe, f.start, f.picture_id, f.tl0picidx, f.tid, f.keyidx


cdef int vp8_fields(
    const uint8_t* p, Py_ssize_t start, Py_ssize_t end, Vp8Fields* f
) noexcept nogil:
    cdef Vp8Layout d
    if vp8_layout(p, start, end, &d) < 0:
        return -1
    f.start = (p[start] & 0x10) != 0 and (p[start] & 0x07) == 0
    f.keyframe = f.start and d.end < end and (p[d.end] & 0x01) == 0
    f.picture_id = -1
    if d.pid_at >= 0:
        f.picture_id = p[d.pid_at] & 0x7F
        if d.pid_bits == 15:
            f.picture_id = (f.picture_id << 8) | p[d.pid_at + 1]
    f.tl0picidx = p[d.tl0_at] if d.tl0_at >= 0 else -1
    f.tid = p[d.tk_at] >> 6 if d.flags & 0x20 else -1
    f.keyidx = p[d.tk_at] & 0x1F if d.flags & 0x10 else -1
    return 0


cdef bint vp8_keyframe_size(
    const uint8_t* p, Py_ssize_t start, Py_ssize_t end, int* width, int* height
) noexcept nogil:
    cdef Vp8Layout d
    cdef const uint8_t* frame
    if vp8_layout(p, start, end, &d) < 0 or end - d.end < 10:
        return False
    frame = p + d.end
    if frame[0] & 0x01 or frame[3] != 0x9D or frame[4] != 0x01 or frame[5] != 0x2A:
        return False
    width[0] = (frame[6] | frame[7] << 8) & 0x3FFF
    height[0] = (frame[8] | frame[9] << 8) & 0x3FFF
    return True


# h264_keyframe's errors, by the negative code h264_frame returns
H264_ERRORS = {
    -1: "rtp payload offset out of range",
    -2: "h264 forbidden bit set",
    -3: "h264 reserved nal unit type",
    -4: "h264 stap-a truncated",
    -5: "h264 fu-a truncated",
    -6: "h264 nal unit type not in packetization mode 1",
}


def h264_keyframe(bytes data not None, Py_ssize_t payload_offset, Py_ssize_t payload_end):
    """Whether an H.264 payload starts a keyframe: see sfu.rtp.rtp_py.h264_keyframe."""
    cdef int found
    if not 0 <= payload_offset < payload_end <= PyBytes_GET_SIZE(data):
        raise ValueError(H264_ERRORS[-1])
    found = h264_frame(<const uint8_t*>PyBytes_AS_STRING(data), payload_offset, payload_end)
    if found < 0:
        raise ValueError(H264_ERRORS[found])
    return found == 1


cdef int h264_frame(const uint8_t* p, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef uint8_t kind = p[start] & 0x1F, unit
    cdef Py_ssize_t at, size
    cdef bint keyframe = False
    if p[start] & 0x80:
        return -2
    if kind == 0 or kind == 30 or kind == 31:
        return -3
    if kind < 24:
        return kind == 5 or kind == 7
    if kind == 24:
        at = start + 1
        if at >= end:
            return -4
        while at < end:
            if at + 2 > end:
                return -4
            size = (<Py_ssize_t>p[at] << 8) | p[at + 1]
            if size == 0 or at + 2 + size > end:
                return -4
            unit = p[at + 2]
            if unit & 0x80:
                return -2
            keyframe = keyframe or (unit & 0x1F) == 5 or (unit & 0x1F) == 7
            at += 2 + size
        return keyframe
    if kind == 28:
        if end - start < 3:
            return -5
        unit = p[start + 1]
        return (unit & 0x80) != 0 and ((unit & 0x1F) == 5 or (unit & 0x1F) == 7)
    return -6
