from cython_ext.packet cimport RtpPacket

# fan_out() for the compiled ingest: the same tuple, without a Python call.
cdef tuple fan_out_c(list downtracks, RtpPacket packet, long long now_ms)
