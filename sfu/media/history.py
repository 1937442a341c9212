"""Recently sent packets of one subscription, to answer its NACKs (RFC 4585 §6.2.1).

Retransmissions are rationed: a packet is resent at most ``MAX_RESENDS`` times, never twice within
``RESEND_INTERVAL_MS`` (a NACK repeated before our resend could arrive), and never from before the
subscription's last layer switch (the new keyframe made those packets useless). On a congested
link, unrationed resends queue ahead of fresh packets and turn a short loss into a long freeze.

cython_ext/history.pyx is the compiled twin; import through sfu.rtp.fastpath.
"""

from __future__ import annotations

# NACKs help only within a round trip plus the receiver's jitter buffer (well under 1 s); 512
# packets is 1.2 s at 4 Mbit/s and more for lower layers. Each slot holds a ~1.2 KB packet per
# video subscription: a 20x20 meeting kept 450 MB in 1024-slot rings.
HISTORY_SIZE = 512
RESEND_INTERVAL_MS = 100
MAX_RESENDS = 2


class PacketHistory:
    """A ring indexed by the 16-bit sequence number we sent the packet with."""

    __slots__ = ("_resends", "_resent_ms", "_seqs", "_slots", "_valid_from")

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        if size < 1 or size & (size - 1):
            raise ValueError("history size must be a power of two")
        self._slots: list[bytes | None] = [None] * size
        self._seqs = [-1] * size
        self._resends = [0] * size
        self._resent_ms = [0] * size
        self._valid_from = -1

    def put(self, seq: int, packet: bytes) -> None:
        index = seq & (len(self._slots) - 1)
        self._slots[index] = packet
        self._seqs[index] = seq
        self._resends[index] = 0

    def forget_before(self, seq: int) -> None:
        """Packets sent before ``seq`` (16-bit) are no longer worth resending."""
        self._valid_from = seq

    def resend(self, seq: int, now_ms: int) -> bytes | None:
        """The packet to resend for a NACK of ``seq``, or None if it is not to be resent."""
        index = seq & (len(self._slots) - 1)
        if self._seqs[index] != seq or self._resends[index] >= MAX_RESENDS:
            return None
        if self._valid_from >= 0 and 0 < (self._valid_from - seq) & 0xFFFF < 0x8000:
            return None
        if self._resends[index] and now_ms - self._resent_ms[index] < RESEND_INTERVAL_MS:
            return None
        self._resends[index] += 1
        self._resent_ms[index] = now_ms
        return self._slots[index]
