# cython: language_level=3
"""A received packet to every subscription of its track, compiled: sfu/media/fanout_py.py is
the spec.

One C loop over the subscriptions instead of a Python call chain per subscriber: the common
outcomes (forwarded, another layer's packet, paused) are handled here; the rest (a switch, a
keyframe to wait for, a packet from before the start) is returned for ``DownTrack.write``.
"""

from cython_ext.drops cimport DROP_LAYER_NOT_SELECTED, DROP_PAUSED
from cython_ext.forwarder cimport Forwarder
from cython_ext.history cimport PacketHistory


def fan_out(list downtracks not None, packet, long long now_ms):
    """See sfu.media.fanout_py.fan_out."""
    cdef bytes data = packet.data
    cdef Py_ssize_t offset = packet.payload_offset
    cdef long long ext_seq = packet.ext_seq, timestamp = packet.timestamp
    cdef bint marker = packet.marker, keyframe = packet.keyframe
    cdef long long audio_level = packet.audio_level
    cdef int layer = packet.layer
    cdef long long picture_id = packet.picture_id, tl0picidx = packet.tl0picidx
    cdef long long sent = 0, octets = 0, other = 0, paused = 0
    cdef Py_ssize_t n
    cdef Forwarder f
    cdef bytes packet_out
    cdef list slow = None
    for downtrack in downtracks:
        f = <Forwarder?>downtrack.forwarder  # the compiled one (TypeError otherwise)
        out = f._forward(
            data, offset, ext_seq, timestamp, marker, audio_level, layer, keyframe,
            picture_id, tl0picidx, now_ms,
        )
        if type(out) is bytes:
            packet_out = <bytes>out
            n = len(packet_out)
            # under the sequence number it carries; the compiled history (TypeError otherwise)
            (<PacketHistory?>downtrack.history).put(
                packet_out[2] << 8 | packet_out[3], packet_out
            )
            if downtrack.send_rtp(packet_out):
                downtrack.packets_sent += 1
                downtrack.octets_sent += n - 12
                sent += 1
                octets += n
        elif out == DROP_LAYER_NOT_SELECTED and not f._waiting():
            other += 1
        elif out == DROP_PAUSED:
            paused += 1
        else:
            if slow is None:
                slow = []
            slow.append(downtrack)
    return sent, octets, other, paused, slow
