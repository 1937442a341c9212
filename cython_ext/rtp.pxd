# The C-level contract of rtp.pyx, for other Cython modules to cimport: big-endian
# loads/stores (the hton primitives of an RTP header), the VP8 descriptor layout and the
# header rewrite.
from libc.stdint cimport uint8_t, uint16_t, uint32_t


cdef inline uint16_t load16(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t load32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void store16(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 8)
    p[1] = <uint8_t>v


cdef inline void store32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


# The extensions parse_header() finds: mid, rid, repaired rid, audio level (in that order).
cdef enum:
    WANTED = 4
    EXT_MID = 0
    EXT_RID = 1
    EXT_RRID = 2
    EXT_AUDIO_LEVEL = 3


cdef struct Parsed:
    uint32_t ssrc
    uint8_t payload_type
    uint16_t seq
    uint32_t timestamp
    bint marker
    Py_ssize_t offset           # payload start
    Py_ssize_t end              # payload end (before padding)
    int ids[WANTED]             # negotiated ids, <= 0 when not negotiated (set by the caller)
    Py_ssize_t at[WANTED]       # value offset in the packet, -1 when absent
    Py_ssize_t length[WANTED]


# RFC 3550 header and RFC 8285 extensions of p[:n] into *r (whose ids the caller set); NULL, or
# why the packet is malformed (parse_rtp's ValueError message).
cdef const char* parse_header(const uint8_t* p, Py_ssize_t n, Parsed* r) noexcept nogil


# Where the fields of a VP8 payload descriptor (RFC 7741 §4.2) sit; -1 when absent.
cdef struct Vp8Layout:
    Py_ssize_t end      # first byte after the descriptor (the VP8 payload header)
    uint8_t flags       # I|L|T|K|RSV byte, 0 when X is clear
    Py_ssize_t pid_at   # PictureID
    int pid_bits        # 7 (M=0) or 15 (M=1)
    Py_ssize_t tl0_at   # TL0PICIDX
    Py_ssize_t tk_at    # TID|Y|KEYIDX


# Fills *out for the descriptor in p[start:end]; -1 if it is empty or runs past end.
cdef int vp8_layout(const uint8_t* p, Py_ssize_t start, Py_ssize_t end, Vp8Layout* out) noexcept nogil


# The fields of a VP8 payload descriptor vp8_descriptor() returns, for C callers (-1: absent).
cdef struct Vp8Fields:
    bint keyframe
    bint start
    int picture_id
    int tl0picidx
    int tid
    int keyidx


# Fills *out for the descriptor in p[start:end]; -1 if it is empty or runs past end.
cdef int vp8_fields(const uint8_t* p, Py_ssize_t start, Py_ssize_t end, Vp8Fields* out) noexcept nogil


# (width, height) from the first packet of a VP8 keyframe (sfu.rtp.vp8.keyframe_size); False if
# it is not one.
cdef bint vp8_keyframe_size(
    const uint8_t* p, Py_ssize_t start, Py_ssize_t end, int* width, int* height
) noexcept nogil


# What rewrite() writes, already in wire range; an id <= 0 (an empty mid, a level or
# picture id < 0) leaves that field out. The caller checked the ids (<= 14) and mid (<= 16).
cdef struct Header:
    uint32_t ssrc
    uint8_t payload_type
    uint16_t seq
    uint32_t timestamp
    bint marker
    int transport_cc_id  # written first, seq 0: the transport stamps it (rtp_py.TRANSPORT_SEQ_AT)
    int mid_id
    const char* mid     # borrowed from a bytes object the caller keeps alive
    Py_ssize_t mid_len
    int abs_send_time_id
    uint32_t abs_send_time
    int audio_level_id
    int audio_level
    int picture_id
    int tl0picidx


# The forwarded packet: h's header and extensions, then p[payload_offset:n] with the VP8
# fields patched. Raises ValueError for a payload offset out of range, a truncated descriptor.
cdef bytes rewrite(const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h)

# rewrite() into o (capacity bytes, the datapath's send slot: no object made); its length, or 0
# if it does not fit (nothing written). The same ValueErrors.
cdef Py_ssize_t rewrite_into(
    const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h, uint8_t* o,
    Py_ssize_t capacity,
) except -1


# The packet an RTX packet p (payload p[payload_offset:payload_end], at least 2 bytes: the caller
# checked) repairs, with the media stream's payload type and SSRC: see rtp_py.unwrap_rtx.
cdef bytes unwrap(
    const uint8_t* p, Py_ssize_t payload_offset, Py_ssize_t payload_end, uint8_t payload_type,
    uint32_t ssrc,
)


# Whether the H.264 payload p[start:end] (start < end: the caller checked) starts a keyframe: 1
# or 0, or a negative code of rtp.H264_ERRORS (see sfu.rtp.rtp_py.h264_keyframe).
cdef int h264_frame(const uint8_t* p, Py_ssize_t start, Py_ssize_t end) noexcept nogil
