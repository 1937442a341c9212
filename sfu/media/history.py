"""Recently sent packets of one subscription, to answer its NACKs (RFC 4585 §6.2.1)."""

from __future__ import annotations

# 1024 packets is ~1 s of 720p video: longer than any retransmission is still useful.
HISTORY_SIZE = 1024


class PacketHistory:
    """A ring indexed by the 16-bit sequence number we sent the packet with."""

    __slots__ = ("_seqs", "_slots")

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        if size & (size - 1):
            raise ValueError("history size must be a power of two")
        self._slots: list[bytes | None] = [None] * size
        self._seqs = [-1] * size

    def put(self, seq: int, packet: bytes) -> None:
        index = seq & (len(self._slots) - 1)
        self._slots[index] = packet
        self._seqs[index] = seq

    def get(self, seq: int) -> bytes | None:
        index = seq & (len(self._slots) - 1)
        return self._slots[index] if self._seqs[index] == seq else None
