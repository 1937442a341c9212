# cython: language_level=3
"""A received packet to every subscription of its track, compiled: sfu/media/fanout_py.py is
the spec.

One C loop over the subscriptions instead of a Python call chain per subscriber: the common
outcomes (forwarded, another layer's packet, paused) are handled here; the rest (a switch, a
keyframe to wait for, a packet from before the start) is returned with the forwarder's verdict
for ``DownTrack.handle``.
"""

from cython_ext.drops cimport DROP_LAYER_NOT_SELECTED, DROP_PAUSED
from cython_ext.forwarder cimport Forwarder
from cython_ext.packet cimport RtpPacket


def fan_out(list downtracks not None, RtpPacket packet not None, long long now_ms):
    """See sfu.media.fanout_py.fan_out."""
    return fan_out_c(downtracks, packet, now_ms)


cdef tuple fan_out_c(list downtracks, RtpPacket packet, long long now_ms):
    cdef long long sent = 0, octets = 0, other = 0, paused = 0
    cdef Forwarder f
    cdef list slow = None
    for downtrack in downtracks:
        f = <Forwarder?>downtrack.forwarder  # the compiled one (TypeError otherwise)
        out = f._forward(packet, now_ms)
        if type(out) is bytes:
            if f._send(<bytes>out):
                sent += 1
                octets += len(<bytes>out)
        elif out == DROP_LAYER_NOT_SELECTED and not f._waiting():
            other += 1
        elif out == DROP_PAUSED:
            paused += 1
        else:
            if slow is None:
                slow = []
            slow.append((downtrack, out))
    return sent, octets, other, paused, slow
