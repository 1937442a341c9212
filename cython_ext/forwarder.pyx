# cython: language_level=3
"""One subscription's per-packet step, compiled: sfu/media/forwarder_py.py is the spec.

The selector's decision, the mungers' renumbering, rtp.rewrite() and the history's record in
one C call per packet (from cython_ext.fanout), on C fields. When the sink is compiled (the
datapath's Peer), the packet is rewritten straight into its send slot and no object is created;
a Python sink gets the output packet as bytes. Each cdef method is the method of sfu/media/ it
is named after, line for line. Import through sfu.media.kernels.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t

from cython_ext.history cimport PacketHistory
from cython_ext.packet cimport RtpPacket
from cython_ext.rtp cimport Header, rewrite
from cython_ext.sink import sink_of

cdef enum:
    MAX_JUMP_S = 5  # sfu.media.munger.MAX_JUMP_S
    HISTORY_SIZE = 512  # sfu.media.history_py.HISTORY_SIZE
    PID_MASK = 0x7FFF  # PictureID wraps at 2**15, TL0PICIDX at 2**8 (RFC 7741 §4.2)
    TL0_MASK = 0xFF

# sfu.media.selector's codes, by name, for the test that they agree.
CODES = {"NO_LAYER": NONE, "FORWARD": FORWARD, "SWITCH": SWITCH}


cdef class Forwarder:
    """See sfu.media.forwarder_py.Forwarder."""

    def __init__(
        self, *, long long ssrc, long long payload_type, int mid_id, bytes mid not None,
        int abs_send_time_id, int audio_level_id, int clock_rate, long long first_seq,
        long long first_ts, int target, send_rtp, Py_ssize_t history_size=HISTORY_SIZE,
        int transport_cc_id=0,
    ):
        if mid_id > 14 or abs_send_time_id > 14 or audio_level_id > 14 or transport_cc_id > 14:
            raise ValueError("rtp extension id out of range")
        if PyBytes_GET_SIZE(mid) > 16:
            raise ValueError("rtp mid too long")
        self.target, self.current = target, NONE
        self.last_seq, self.last_ts, self.ts_offset = first_seq - 1, first_ts, 0
        self._seq_offset, self._start, self._last_ms = 0, NONE, NONE
        self._frame_ended = False
        self._clock_rate = clock_rate
        self._pid_offset, self._tl0_offset, self._last_pid, self._last_tl0 = 0, 0, NONE, NONE
        self._mid = mid
        self._header.ssrc, self._header.payload_type = <uint32_t>ssrc, payload_type & 0x7F
        self._header.mid_id, self._header.mid_len = mid_id, PyBytes_GET_SIZE(mid)
        self._header.mid = PyBytes_AS_STRING(mid)
        self._header.abs_send_time_id = abs_send_time_id
        self._header.audio_level_id = audio_level_id
        self._header.transport_cc_id = transport_cc_id
        self._send_rtp, self._sink = send_rtp, sink_of(send_rtp)
        self.history = PacketHistory(history_size)
        self.packets_sent = self.octets_sent = 0

    def forward(self, RtpPacket packet not None, long long now_ms):
        """The packet to send, a drop's code or SWITCH: see forwarder_py."""
        return self._forward(packet, now_ms)

    cdef object _forward(self, RtpPacket packet, long long now_ms):
        """forward(), for C callers."""
        cdef int decision = self._number(packet, now_ms)
        if decision != FORWARD:
            return decision
        out = self._rewrite(packet, now_ms)
        self._remember(packet)
        return out

    cdef Py_ssize_t _forward_send(
        self, RtpPacket packet, long long now_ms, int* decision
    ) except -1:
        """forward() and send() in one (cython_ext.fanout): the decision into ``decision``;
        when FORWARD, the length sent (0: not sent). A compiled sink gets the packet rewritten
        straight into its send slot, so no bytes object is made."""
        cdef Py_ssize_t length
        decision[0] = self._number(packet, now_ms)
        if decision[0] != FORWARD:
            return 0
        if self._sink is None:
            out = self._rewrite(packet, now_ms)
            length = PyBytes_GET_SIZE(out) if self._send_rtp(out) else 0
        else:
            self._set_header(packet, now_ms)
            length = self._sink._send_rewritten(
                <const uint8_t*>PyBytes_AS_STRING(packet.data), PyBytes_GET_SIZE(packet.data),
                packet.payload_offset, &self._header,
            )
        self._remember(packet)
        self._count(length)
        return length

    cdef int _number(self, RtpPacket packet, long long now_ms) noexcept:
        """The decision; for FORWARD, the packet numbered into the header."""
        cdef int decision = self._decide(packet.layer, packet.keyframe)
        cdef long long last_seq = self.last_seq
        if decision != FORWARD:
            return decision
        if not self._translate(packet.ext_seq, packet.timestamp, now_ms):
            return DROP_TOO_OLD
        if self.last_seq != last_seq:
            self._frame_ended = packet.marker
        self._translate_vp8(packet.picture_id, packet.tl0picidx)
        return FORWARD

    cdef void _remember(self, RtpPacket packet) noexcept:
        """The history's record of the packet just numbered (for NACKs)."""
        cdef Header* h = &self._header
        self.history._put(
            h.seq, packet.layer, packet.ext_seq, h.timestamp, h.picture_id, h.tl0picidx
        )

    def forward_late(self, RtpPacket packet not None, long long now_ms):
        """A packet reordered behind a congestion cut, or None: see forwarder_py."""
        cdef Header* h = &self._header
        if self.current != NONE or self._start < 0 or packet.ext_seq < self._start:
            return None
        if packet.ext_seq + self._seq_offset > self.last_seq:  # Munger.translate_late
            return None
        self._translate(packet.ext_seq, packet.timestamp, now_ms)  # older: numbering only
        self._translate_vp8(packet.picture_id, packet.tl0picidx)
        out = self._rewrite(packet, now_ms)
        self.history._put(
            h.seq, packet.layer, packet.ext_seq, h.timestamp, h.picture_id, h.tl0picidx
        )
        return out

    def send(self, bytes out not None):
        """Send a forwarded packet; count it if it went."""
        return self._send(out)

    cdef bint _send(self, bytes out) except -1:
        cdef bint sent
        if self._sink is not None:
            sent = self._sink._send_rtp(out)
        else:
            sent = self._send_rtp(out)
        self._count(PyBytes_GET_SIZE(out) if sent else 0)
        return sent

    cdef inline void _count(self, Py_ssize_t length) noexcept:
        """A packet of ``length`` bytes went (0: none did)."""
        if length:
            self.packets_sent += 1
            self.octets_sent += length - 12

    def rewrite(
        self, RtpPacket packet not None, long long seq, long long timestamp, int picture_id,
        int tl0picidx, long long now_ms,
    ):
        """``packet`` as this subscriber gets it under this numbering: see forwarder_py."""
        self._header.seq, self._header.timestamp = <uint16_t>seq, <uint32_t>timestamp
        self._header.picture_id, self._header.tl0picidx = picture_id, tl0picidx
        return self._rewrite(packet, now_ms)

    cdef bytes _rewrite(self, RtpPacket packet, long long now_ms):
        """rewrite_rtp with the numbering already in the header."""
        self._set_header(packet, now_ms)
        return rewrite(
            <const uint8_t*>PyBytes_AS_STRING(packet.data), PyBytes_GET_SIZE(packet.data),
            packet.payload_offset, &self._header,
        )

    cdef void _set_header(self, RtpPacket packet, long long now_ms) noexcept:
        """The header's per-packet fields beyond the numbering."""
        self._header.marker = packet.marker
        self._header.abs_send_time = ((now_ms << 18) // 1000) & 0xFFFFFF  # abs_send_time()
        self._header.audio_level = packet.audio_level & 0xFF if packet.audio_level >= 0 else NONE

    def pad(self, int size, long long now_ms):
        """A padding-only packet numbered after the last one sent, or None: see forwarder_py."""
        cdef Header h = self._header
        if not 1 <= size <= 255:
            raise ValueError("padding size out of range")
        if not self._frame_ended or self.current == NONE:
            return None
        # Munger.pad
        self._start = self.last_seq - self._seq_offset + 1
        self._seq_offset += 1
        self.last_seq += 1
        h.seq, h.timestamp, h.marker = <uint16_t>self.last_seq, <uint32_t>self.last_ts, False
        h.abs_send_time = ((now_ms << 18) // 1000) & 0xFFFFFF  # abs_send_time()
        h.audio_level = h.picture_id = h.tl0picidx = NONE
        padding = b"\xa0" + bytes(11 + size - 1) + bytes([size])  # P bit, no payload
        return rewrite(<const uint8_t*>PyBytes_AS_STRING(padding), len(padding), 12, &h)

    def switch(
        self, long long ext_seq, long long timestamp, long long picture_id, long long tl0picidx,
        long long now_ms, long long aligned_ts,
    ):
        """Start the target layer at this packet: see forwarder_py."""
        cdef long long advance = 0, ahead
        # Munger.switch
        if self._last_ms >= 0:
            advance = max(1, (now_ms - self._last_ms) * self._clock_rate // 1000)
        if aligned_ts >= 0 and self._last_ms >= 0:
            ahead = <uint32_t>(aligned_ts - self.last_ts)  # casts to uint32_t: the spec's masks
            if 0 < ahead <= MAX_JUMP_S * <long long>self._clock_rate:
                advance = ahead
        self._seq_offset = self.last_seq + 1 - ext_seq
        self.ts_offset = <uint32_t>(self.last_ts + advance - timestamp)
        self._start = ext_seq
        # Vp8Munger.switch
        if self._last_pid >= 0 and picture_id >= 0:
            self._pid_offset = (self._last_pid + 1 - picture_id) & PID_MASK
        if self._last_tl0 >= 0 and tl0picidx >= 0:
            self._tl0_offset = (self._last_tl0 + 1 - tl0picidx) & TL0_MASK
        self.current = self.target  # LayerSelector.switched

    def pause(self):
        """Send nothing until a new target's keyframe: see forwarder_py."""
        self.target = self.current = NONE

    def rebase(self, long long first_seq, long long first_ts):
        """Number the first packet from here: see forwarder_py."""
        if self._start >= 0:  # Munger.rebase
            raise ValueError("rebase after the first packet")
        self.last_seq, self.last_ts = first_seq - 1, first_ts

    @property
    def waiting(self):
        """True while the target layer's keyframe is awaited."""
        return self._waiting()

    cdef inline bint _waiting(self) noexcept:
        return self.current != self.target and self.target != NONE

    cdef int _decide(self, int layer, bint keyframe) noexcept:
        """LayerSelector.decide."""
        if layer == self.current and self.current == self.target:
            return FORWARD
        if self.target == NONE:
            return DROP_PAUSED
        if layer == self.target and keyframe:
            return SWITCH
        if layer == self.current:
            return FORWARD  # keep the old layer until the target's keyframe comes
        if self.current == NONE:
            return DROP_WAITING_FOR_KEYFRAME
        return DROP_LAYER_NOT_SELECTED

    cdef bint _translate(self, long long ext_seq, long long timestamp, long long now_ms) noexcept:
        """Munger.translate, into the header; False for a packet from before the start point."""
        cdef long long seq, ts
        if ext_seq < self._start or self._start < 0:
            return False
        seq = ext_seq + self._seq_offset
        ts = <uint32_t>(<unsigned long long>timestamp + <unsigned long long>self.ts_offset)
        if seq > self.last_seq:
            self.last_seq, self.last_ts, self._last_ms = seq, ts, now_ms
        self._header.seq, self._header.timestamp = <uint16_t>seq, <uint32_t>ts
        return True

    cdef void _translate_vp8(self, long long picture_id, long long tl0picidx) noexcept:
        """Vp8Munger.translate, into the header."""
        cdef int pid = NONE, tl0 = NONE
        if picture_id >= 0:
            pid = (picture_id + self._pid_offset) & PID_MASK
            if self._last_pid < 0 or 0 < ((pid - self._last_pid) & PID_MASK) < 0x4000:
                self._last_pid = pid
        if tl0picidx >= 0:
            tl0 = (tl0picidx + self._tl0_offset) & TL0_MASK
            if self._last_tl0 < 0 or 0 < ((tl0 - self._last_tl0) & TL0_MASK) < 0x80:
                self._last_tl0 = tl0
        self._header.picture_id, self._header.tl0picidx = pid, tl0
