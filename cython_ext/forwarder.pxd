# The C-level state of one subscription's Forwarder: the fields of LayerSelector, Munger and
# Vp8Munger (sfu/media/), under the same names, and the constant half of its output header.
from cython_ext.drops cimport (
    DROP_LAYER_NOT_SELECTED, DROP_PAUSED, DROP_TOO_OLD, DROP_WAITING_FOR_KEYFRAME,
)
from cython_ext.history cimport PacketHistory
from cython_ext.packet cimport RtpPacket
from cython_ext.rtp cimport Header
from cython_ext.sink cimport RtpSink


cdef enum:
    NONE = -1  # NO_LAYER; also "not yet" for the munger's positions, "absent" for VP8 fields

# What _decide returns (and forward(), but for FORWARD): sfu.media.selector's FORWARD and SWITCH,
# or a drop's code (drops.pxd).
cdef enum:
    FORWARD = 0
    SWITCH = -1


cdef class Forwarder:
    cdef:
        public int target        # LayerSelector
        readonly int current
        readonly long long last_seq  # Munger
        readonly long long last_ts
        readonly long long ts_offset
        long long _seq_offset
        long long _start
        long long _last_ms
        bint _frame_ended        # the last packet numbered had the marker bit
        int _clock_rate
        int _pid_offset          # Vp8Munger
        int _tl0_offset
        int _last_pid
        int _last_tl0
        bytes _mid               # owns the bytes _header.mid points into
        Header _header           # ssrc, payload type, ids: set once; the rest per packet
        readonly PacketHistory history
        readonly long long packets_sent, octets_sent
        object _send_rtp         # the sink: a Python callable,
        RtpSink _sink            # or the compiled sink behind it (None otherwise)

    cdef object _forward(self, RtpPacket packet, long long now_ms)
    cdef Py_ssize_t _forward_send(
        self, RtpPacket packet, long long now_ms, int* decision
    ) except -1
    cdef int _number(self, RtpPacket packet, long long now_ms) noexcept
    cdef void _remember(self, RtpPacket packet) noexcept
    cdef void _set_header(self, RtpPacket packet, long long now_ms) noexcept
    cdef bint _send(self, bytes out) except -1
    cdef void _count(self, Py_ssize_t length) noexcept
    cdef bytes _rewrite(self, RtpPacket packet, long long now_ms)
    cdef bint _waiting(self) noexcept
    cdef int _decide(self, int layer, bint keyframe) noexcept
    cdef bint _translate(self, long long ext_seq, long long timestamp, long long now_ms) noexcept
    cdef void _translate_vp8(self, long long picture_id, long long tl0picidx) noexcept
