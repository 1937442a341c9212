# Where compiled code can send RTP without a Python call: the datapath's Peer is one. The
# forwarder (media) knows this interface, not the datapath (webrtc) that implements it.

cdef class RtpSink:
    cdef bint _send_rtp(self, bytes data) except -1
