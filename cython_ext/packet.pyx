# cython: language_level=3
"""The received packet, compiled: sfu/media/packet_py.py is the spec."""

cimport cython


# Not tracked by the garbage collector: it holds only bytes and numbers, so it cannot be part of
# a cycle, and one is made per received packet (tracked, they made the collector run a full
# collection every few seconds over every packet in the layers' stores).
@cython.no_gc
cdef class RtpPacket:
    """See sfu.media.packet_py.RtpPacket."""

    def __init__(
        self, bytes data not None, long long ssrc, long long ext_seq, long long timestamp,
        bint marker, Py_ssize_t payload_offset, long long audio_level, int layer, bint keyframe,
        long long arrival_ms, long long picture_id=-1, long long tl0picidx=-1,
    ):
        self.data, self.ssrc, self.ext_seq, self.timestamp = data, ssrc, ext_seq, timestamp
        self.marker, self.payload_offset, self.audio_level = marker, payload_offset, audio_level
        self.layer, self.keyframe, self.arrival_ms = layer, keyframe, arrival_ms
        self.picture_id, self.tl0picidx = picture_id, tl0picidx
