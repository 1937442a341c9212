# The codes of sfu.media.counters.DropReason that the kernels return, so that a drop needs no
# translation on its way to the counters. This package imports nothing of ours: the codes are
# repeated here, and tests/cython_ext/test_vocabulary.py checks that they agree.
cdef enum:
    DROP_SRTP_UNPROTECT = 2
    DROP_MALFORMED_RTP = 3
    DROP_MALFORMED_VP8 = 5
    DROP_MALFORMED_H264 = 37
    DROP_RTX = 9
    DROP_LAYER_NOT_SELECTED = 10
    DROP_WAITING_FOR_KEYFRAME = 11
    DROP_SEND_FAILED = 13
    DROP_TOO_OLD = 14
    DROP_PAUSED = 15
    DROP_MUTED = 16
    DROP_INTERNAL_ERROR = 19
    DROP_UNKNOWN_PAYLOAD_TYPE = 33
    DROP_DUPLICATE = 34
    DROP_TRANSPORT_FEEDBACK_STALE = 35
    DROP_TRANSPORT_FEEDBACK_UNKNOWN = 36
