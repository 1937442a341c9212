"""A received RTP packet, parsed once at ingress and shared read-only by every subscriber: the
spec of cython_ext/packet.pyx."""

from __future__ import annotations


class RtpPacket:
    """The raw bytes plus what the forwarding decisions need; built by the ingest (``Layer``) with
    positional arguments (per packet: keywords cost twice as much)."""

    __slots__ = (
        "arrival_ms",
        "audio_level",
        "data",
        "ext_seq",
        "keyframe",
        "layer",
        "marker",
        "payload_offset",
        "picture_id",
        "ssrc",
        "timestamp",
        "tl0picidx",
    )

    def __init__(
        self,
        data: bytes,
        ssrc: int,
        ext_seq: int,
        timestamp: int,
        marker: bool,
        payload_offset: int,
        audio_level: int,
        layer: int,
        keyframe: bool,
        arrival_ms: int,
        picture_id: int = -1,
        tl0picidx: int = -1,
    ) -> None:
        self.data = data
        self.ssrc = ssrc
        self.ext_seq = ext_seq
        self.timestamp = timestamp
        self.marker = marker
        self.payload_offset = payload_offset
        self.audio_level = audio_level
        self.layer = layer
        self.keyframe = keyframe
        self.arrival_ms = arrival_ms
        self.picture_id = picture_id
        self.tl0picidx = tl0picidx
