# The compiled received packet (sfu/media/packet_py.py): built once by the ingest, read in C by
# the fan-out and the forwarders, in Python by the rare paths (switches, resends).

cdef class RtpPacket:
    cdef readonly bytes data
    cdef readonly long long ssrc, ext_seq, timestamp, audio_level, arrival_ms
    cdef readonly long long picture_id, tl0picidx
    cdef readonly Py_ssize_t payload_offset
    cdef readonly int layer
    cdef readonly bint marker, keyframe
