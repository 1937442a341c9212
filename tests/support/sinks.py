"""A MediaSink for packet-path tests and benchmarks: connected or not, recording or not."""

from __future__ import annotations


class Sink:
    def __init__(self, *, connected: bool = True, record: bool = False) -> None:
        self.connected = connected
        self._record = record
        self.rtp: list[bytes] = []

    def send_rtp(self, data: bytes) -> bool:
        if self._record:
            self.rtp.append(data)
        return self.connected

    def send_rtcp(self, data: bytes) -> bool:
        return self.connected
