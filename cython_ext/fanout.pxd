from cython_ext.packet cimport RtpPacket


# fan_out()'s counts, for C callers.
cdef struct Outcome:
    long long sent, octets, other, paused


# fan_out() for the compiled ingest, without a Python call or a tuple per packet: the counts in
# *out, and the subscriptions left with their verdict (None if none).
cdef list fan_out_c(list downtracks, RtpPacket packet, long long now_ms, Outcome* out)
