"""A MediaSink for packet-path tests and benchmarks: connected or not, recording or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NoMedia:
    """A peer connection's packet handler that takes nothing (signaling and DTLS tests)."""

    def on_rtp(self, data: bytes, now_ms: int) -> None:
        pass

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        pass


class Sink:
    def __init__(self, *, connected: bool = True, record: bool = False) -> None:
        self.connected = connected
        self._record = record
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []

    def send_rtp(self, data: bytes) -> bool:
        if self._record:
            self.rtp.append(data)
        return self.connected

    def send_rtcp(self, data: bytes) -> bool:
        if self._record:
            self.rtcp.append(data)
        return self.connected


class PeerSink:
    """A subscriber's MediaSink on the datapath, as sfu.webrtc.tap gives it: RTP straight into
    the batch (``peer`` is a datapath ``Peer``)."""

    def __init__(self, peer: Any) -> None:
        self.send_rtp: Callable[[bytes], bool] = peer.send_rtp
        self.connected = True

    def send_rtcp(self, data: bytes) -> bool:
        return True
