# The compiled ingest (sfu/media/ingest_py.py), for the datapath to call without Python.
from cython_ext.counts cimport Counts
from cython_ext.rtp cimport Parsed
from cython_ext.stats cimport StreamStats
from cython_ext.store cimport PacketStore


cdef class Layer:
    cdef readonly int index, payload_type
    cdef readonly bint is_video, h264
    cdef public bint muted
    cdef public object notable
    cdef readonly list downtracks
    cdef readonly long long ssrc, last_arrival_ms, keyframe_seq
    cdef public long long octets
    cdef readonly int width, height
    cdef readonly StreamStats stats
    cdef readonly PacketStore store
    cdef Counts _counts

    cdef int _receive(
        self, bytes data, const Parsed* r, int audio_level, long long now_ms, bint repaired
    ) except -1


cdef class Repair:
    cdef readonly Layer layer
    cdef readonly int payload_type
    cdef Counts _counts

    cdef int _receive(self, bytes data, const Parsed* r, int audio_level, long long now_ms) except -1


cdef class Ingest:
    cdef Counts _counts
    cdef object _learn
    cdef dict _routes
    cdef int _ids[4]

    cdef int _receive(self, bytes data, long long now_ms) except -1
