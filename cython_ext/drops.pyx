# cython: language_level=3
"""The codes of drops.pxd, by DropReason member name, for the test that they agree."""

CODES = {
    "SRTP_UNPROTECT": DROP_SRTP_UNPROTECT,
    "LAYER_NOT_SELECTED": DROP_LAYER_NOT_SELECTED,
    "WAITING_FOR_KEYFRAME": DROP_WAITING_FOR_KEYFRAME,
    "SEND_FAILED": DROP_SEND_FAILED,
    "TOO_OLD": DROP_TOO_OLD,
    "PAUSED": DROP_PAUSED,
    "INTERNAL_ERROR": DROP_INTERNAL_ERROR,
}
