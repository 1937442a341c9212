"""The last packets received on one layer, stored once for all its subscriptions: the spec of
cython_ext/store.pyx.

A subscription answers a NACK by rewriting the stored packet with its own numbering (its
``PacketHistory`` remembers which packet it sent under which sequence number), and starts a layer
with the packets that arrived ahead of the keyframe it switches at. Keeping one copy per layer
instead of one rewritten copy per subscription is what makes a subscription cheap in memory.
"""

from __future__ import annotations

from sfu.media.packet_py import RtpPacket

# Matches a subscription's history (sfu.media.history_py.HISTORY_SIZE): a subscription sends at
# most every packet of a layer, so its history never outlives the store.
STORE_SIZE = 512


class PacketStore:
    """A ring indexed by the extended sequence number the publisher sent the packet with."""

    __slots__ = ("_slots",)

    def __init__(self, size: int = STORE_SIZE) -> None:
        if size < 1 or size & (size - 1):
            raise ValueError("store size must be a power of two")
        self._slots: list[RtpPacket | None] = [None] * size

    def put(self, packet: RtpPacket) -> None:
        self._slots[packet.ext_seq & (len(self._slots) - 1)] = packet

    def get(self, ext_seq: int) -> RtpPacket | None:
        """The packet received with ``ext_seq``, if it is still stored."""
        packet = self._slots[ext_seq & (len(self._slots) - 1)]
        return packet if packet is not None and packet.ext_seq == ext_seq else None

    def after(self, ext_seq: int, depth: int) -> list[RtpPacket]:
        """The stored packets ``ext_seq + 1`` to ``ext_seq + depth``, in sequence order."""
        found = (self.get(ext_seq + i) for i in range(1, min(depth, len(self._slots) - 1) + 1))
        return [packet for packet in found if packet is not None]
