"""What a datagram on a WebRTC port is, from its first bytes: the spec of cython_ext/demux.pyx.

One port carries STUN, DTLS and SRTP/SRTCP; RFC 7983 §7 tells them apart by the first byte, and
RFC 5761 §4 tells RTCP from RTP by the second (its packet type, 192-223). Import through
sfu.rtp.kernels.
"""

from typing import Final

# What classify() returns (cython_ext/demux.pxd declares the same values).
OTHER: Final = 0  # none of these: not WebRTC
STUN: Final = 1
DTLS: Final = 2
RTP: Final = 3
RTCP: Final = 4


def classify(data: bytes) -> int:
    """The kind of ``data``: STUN, DTLS, RTP, RTCP (both possibly SRTP-protected) or OTHER."""
    first = data[0] if data else 255
    if first < 4:
        return STUN
    if 19 < first < 64:
        return DTLS
    if 127 < first < 192:
        return RTCP if len(data) > 1 and 191 < data[1] < 224 else RTP
    return OTHER
