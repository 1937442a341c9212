# cython: language_level=3
"""A received packet to every subscription of its track, compiled: sfu/media/fanout_py.py is
the spec.

One C loop over the subscriptions instead of a Python call chain per subscriber: the common
outcomes (forwarded, another layer's packet, paused) are handled here; the rest (a switch, a
keyframe to wait for, a packet from before the start) is returned with the forwarder's verdict
for ``DownTrack.handle``.
"""

from cython_ext.drops cimport DROP_LAYER_NOT_SELECTED, DROP_PAUSED
from cython_ext.forwarder cimport FORWARD, Forwarder
from cython_ext.packet cimport RtpPacket


def fan_out(list downtracks not None, RtpPacket packet not None, long long now_ms):
    """See sfu.media.fanout_py.fan_out."""
    cdef Outcome out
    slow = fan_out_c(downtracks, packet, now_ms, &out)
    return out.sent, out.octets, out.other, out.paused, slow


cdef list fan_out_c(list downtracks, RtpPacket packet, long long now_ms, Outcome* out):
    cdef Forwarder f
    cdef list slow = None
    cdef int verdict
    cdef Py_ssize_t length
    out.sent = out.octets = out.other = out.paused = 0
    for downtrack in downtracks:
        f = <Forwarder?>downtrack.forwarder  # the compiled one (TypeError otherwise)
        length = f._forward_send(packet, now_ms, &verdict)
        if verdict == FORWARD:
            if length:
                out.sent += 1
                out.octets += length
        elif verdict == DROP_LAYER_NOT_SELECTED and not f._waiting():
            out.other += 1
        elif verdict == DROP_PAUSED:
            out.paused += 1
        else:
            if slow is None:
                slow = []
            slow.append((downtrack, verdict))
    return slow
