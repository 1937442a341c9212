"""What the packet path needs from a WebRTC transport, and what it gives back.

aiortc's transports implement it today (``sfu.webrtc.tap``); a single-port ICE-lite transport can
take over without changing anything above this line.
"""

from __future__ import annotations

from typing import Protocol


class MediaSink(Protocol):
    """Decrypted RTP/RTCP out of one bundled transport. Must never raise."""

    def send_rtp(self, data: bytes) -> bool: ...

    def send_rtcp(self, data: bytes) -> bool: ...

    @property
    def connected(self) -> bool: ...


class MediaHandler(Protocol):
    """Decrypted RTP/RTCP in from one bundled transport. May raise: the transport counts it."""

    def on_rtp(self, data: bytes, now_ms: int) -> None: ...

    def on_rtcp(self, data: bytes, now_ms: int) -> None: ...
