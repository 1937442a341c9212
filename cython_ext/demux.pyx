# cython: language_level=3
"""The datagram classifier, compiled: sfu/rtp/demux_py.py is the spec. The datapath cimports
kind_of (demux.pxd); classify() is the same for Python callers. Import through sfu.rtp.kernels.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t

# The spec's kinds, by name, for the test that they agree.
KINDS = {"OTHER": OTHER, "STUN": STUN, "DTLS": DTLS, "RTP": RTP, "RTCP": RTCP}


def classify(bytes data not None):
    """See sfu.rtp.demux_py.classify."""
    return kind_of(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
