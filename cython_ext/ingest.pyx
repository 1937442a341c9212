# cython: language_level=3
"""RTP in from one publish connection, compiled: sfu/media/ingest_py.py is the spec.

The datapath calls ``Ingest._receive`` in C with each decrypted packet: parse (rtp.pxd), route
by SSRC, update the layer's statistics, read the VP8 descriptor (or H.264's NAL units), build the one ``RtpPacket``,
store it and fan it out, whose sends go into the datapath's batch; a layer's RTX stream is
unwrapped first (``Repair``). Python runs only for a new SSRC (``learn``), for what the fan-out
returns (``DownTrack.handle``) and for a video packet out of order or starting a keyframe
(``Layer.notable``, the NACK requester).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t

from cython_ext.counts cimport Counts
from cython_ext.drops cimport (
    DROP_DUPLICATE, DROP_LAYER_NOT_SELECTED, DROP_MALFORMED_H264, DROP_MALFORMED_RTP,
    DROP_MALFORMED_VP8, DROP_MUTED, DROP_PAUSED, DROP_RTX, DROP_UNKNOWN_PAYLOAD_TYPE,
)
from cython_ext.fanout cimport Outcome, fan_out_c
from cython_ext.packet cimport RtpPacket
from cython_ext.rtp cimport (
    EXT_AUDIO_LEVEL, EXT_MID, EXT_RID, EXT_RRID, Parsed, Vp8Fields, WANTED, h264_frame, load16,
    parse_header, unwrap, vp8_fields, vp8_keyframe_size,
)
from cython_ext.stats cimport StreamStats
from cython_ext.store cimport PacketStore


cdef class Layer:
    """See sfu.media.ingest_py.Layer."""

    def __init__(
        self, int index, *, bint is_video, int payload_type, long long clock_rate,
        list downtracks not None, Counts counts not None, bint h264=False,
    ):
        self.index, self.is_video, self.payload_type = index, is_video, payload_type
        self.h264 = h264
        self.keyframe_seq = -1
        self.downtracks, self._counts = downtracks, counts
        self.ssrc = 0
        self.stats = StreamStats(clock_rate)
        self.store = PacketStore()
        self.last_arrival_ms = -1
        self.octets = 0
        self.width = self.height = 0
        self.muted = False
        self.notable = None

    def bind(self, long long ssrc):
        """A new SSRC carries this layer: its numbering starts afresh."""
        self.ssrc = ssrc
        self.stats = StreamStats(self.stats.clock_rate)
        self.store = PacketStore()

    def receive(
        self, bytes data not None, int payload_type, long long seq, long long timestamp,
        bint marker, Py_ssize_t offset, Py_ssize_t end, int audio_level, long long now_ms,
        bint repaired=False,
    ):
        """See sfu.media.ingest_py.Layer.receive."""
        cdef Parsed r
        if not 12 <= offset <= end <= PyBytes_GET_SIZE(data):
            raise ValueError("rtp payload offset out of range")
        r.payload_type = payload_type
        r.seq, r.timestamp, r.marker, r.offset, r.end = seq, timestamp, marker, offset, end
        self._receive(data, &r, audio_level, now_ms, repaired)

    cdef int _receive(
        self, bytes data, const Parsed* r, int audio_level, long long now_ms, bint repaired
    ) except -1:
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef Counts counts = self._counts
        cdef long long ext_seq, highest = self.stats.highest
        cdef bint keyframe = not self.is_video
        cdef long long picture_id = -1, tl0picidx = -1
        cdef int width, height, found
        cdef Vp8Fields vp8
        cdef RtpPacket packet
        cdef Outcome out
        cdef list slow
        if r.payload_type != self.payload_type:  # before the statistics: not this stream's
            counts.drop(DROP_UNKNOWN_PAYLOAD_TYPE, 1)
            return 0
        ext_seq = self.stats._extend(r.seq)
        if ext_seq <= highest and self.store._has(ext_seq):
            counts.drop(DROP_DUPLICATE, 1)
            return 0
        self.stats._account(ext_seq, r.timestamp, now_ms, repaired)
        self.last_arrival_ms = now_ms
        self.octets += PyBytes_GET_SIZE(data)
        if self.muted and not self.is_video:
            counts.drop(DROP_MUTED, 1)
            return 0
        if self.is_video and r.end > r.offset and self.h264:
            found = h264_frame(p, r.offset, r.end)
            if found < 0:
                counts.drop(DROP_MALFORMED_H264, 1)
                return 0
            keyframe = found == 1
        elif self.is_video and r.end > r.offset:  # padding-only packets are forwarded as is
            if vp8_fields(p, r.offset, r.end, &vp8) < 0:
                counts.drop(DROP_MALFORMED_VP8, 1)
                return 0
            keyframe, picture_id, tl0picidx = vp8.keyframe, vp8.picture_id, vp8.tl0picidx
            if keyframe and vp8_keyframe_size(p, r.offset, r.end, &width, &height):
                self.width, self.height = width, height
        if keyframe and self.is_video:
            self.keyframe_seq = ext_seq
        if self.notable is not None and (ext_seq != highest + 1 or keyframe):
            self.notable(self.index, ext_seq, keyframe, now_ms, highest)
        packet = RtpPacket.__new__(RtpPacket)
        packet.data, packet.ssrc, packet.ext_seq, packet.timestamp = (
            data, self.ssrc, ext_seq, r.timestamp
        )
        packet.marker, packet.payload_offset, packet.audio_level = r.marker, r.offset, audio_level
        packet.layer, packet.keyframe, packet.arrival_ms = self.index, keyframe, now_ms
        packet.picture_id, packet.tl0picidx = picture_id, tl0picidx
        self.store._put(packet)
        if not self.downtracks:
            return 0
        slow = fan_out_c(self.downtracks, packet, now_ms, &out)
        counts.packets_out += out.sent
        counts.bytes_out += out.octets
        if out.other:
            counts.drop(DROP_LAYER_NOT_SELECTED, out.other)
        if out.paused:
            counts.drop(DROP_PAUSED, out.paused)
        if slow is not None:
            for downtrack, code in slow:
                downtrack.handle(code, packet, now_ms)
        return 0


cdef class Repair:
    """See sfu.media.ingest_py.Repair."""

    def __init__(self, Layer layer not None, *, int payload_type, Counts counts not None):
        self.layer, self.payload_type, self._counts = layer, payload_type, counts

    def receive(
        self, bytes data not None, int payload_type, long long seq, long long timestamp,
        bint marker, Py_ssize_t offset, Py_ssize_t end, int audio_level, long long now_ms,
    ):
        cdef Parsed r
        if not 12 <= offset <= end <= PyBytes_GET_SIZE(data):
            raise ValueError("rtp payload offset out of range")
        r.payload_type = payload_type
        r.seq, r.timestamp, r.marker, r.offset, r.end = seq, timestamp, marker, offset, end
        self._receive(data, &r, audio_level, now_ms)

    cdef int _receive(
        self, bytes data, const Parsed* r, int audio_level, long long now_ms
    ) except -1:
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef Layer layer = self.layer
        cdef Parsed o
        if r.payload_type != self.payload_type:
            self._counts.drop(DROP_UNKNOWN_PAYLOAD_TYPE, 1)
            return 0
        if r.end - r.offset < 2:  # padding only (a bandwidth probe) or a truncated repair
            self._counts.drop(DROP_RTX if r.end == r.offset else DROP_MALFORMED_RTP, 1)
            return 0
        original = unwrap(p, r.offset, r.end, layer.payload_type, <uint32_t>layer.ssrc)
        o = r[0]
        o.payload_type, o.seq, o.end = layer.payload_type, load16(p + r.offset), r.end - 2
        return layer._receive(original, &o, audio_level, now_ms, True)


cdef inline object _value(const uint8_t* p, const Parsed* r, int k):
    if r.at[k] < 0:
        return None
    return PyBytes_FromStringAndSize(<const char*>p + r.at[k], r.length[k])


cdef class Ingest:
    """See sfu.media.ingest_py.Ingest."""

    def __init__(self, Counts counts not None, learn):
        self._counts, self._learn = counts, learn
        self._routes = {}
        self._ids[:] = [0, 0, 0, 0]

    def set_extension_ids(self, int mid, int rid, int repaired_rid, int audio_level):
        """The ids the publisher negotiated (0: not negotiated)."""
        self._ids[EXT_MID], self._ids[EXT_RID] = mid, rid
        self._ids[EXT_RRID], self._ids[EXT_AUDIO_LEVEL] = repaired_rid, audio_level

    def route(self, long long ssrc):
        """Where packets of ``ssrc`` go (a layer or a drop code), once learnt."""
        return self._routes.get(ssrc)

    def forget(self, long long ssrc):
        self._routes.pop(ssrc, None)

    def on_rtp(self, bytes data not None, long long now_ms):
        self._receive(data, now_ms)

    cdef int _receive(self, bytes data, long long now_ms) except -1:
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Counts counts = self._counts
        cdef Parsed r
        cdef int k, level = -1
        counts.packets_in += 1
        counts.bytes_in += n
        for k in range(WANTED):
            r.ids[k] = self._ids[k]
        if parse_header(p, n, &r) != NULL:
            counts.drop(DROP_MALFORMED_RTP, 1)
            return 0
        if r.at[EXT_AUDIO_LEVEL] >= 0 and r.length[EXT_AUDIO_LEVEL] > 0:
            level = p[r.at[EXT_AUDIO_LEVEL]]
        route = self._routes.get(r.ssrc)
        if route is None:
            route = self._learn(
                r.ssrc, r.payload_type, _value(p, &r, EXT_MID), _value(p, &r, EXT_RID),
                _value(p, &r, EXT_RRID),
            )
            if route is None:
                return 0
            self._routes[r.ssrc] = route
        if type(route) is Layer:
            return (<Layer>route)._receive(data, &r, level, now_ms, False)
        if type(route) is Repair:
            return (<Repair>route)._receive(data, &r, level, now_ms)
        counts.drop(route, 1)
        return 0

