"""What one subscription recently sent, to answer its NACKs (RFC 4585 §6.2.1).

Not the packets themselves: each received packet is stored once, by its layer
(``sfu.media.store_py.PacketStore``); the history maps each sequence number the subscription sent
to the stored packet (layer, extended sequence number) and the numbering it went out with
(timestamp, VP8 picture ids), which is all a resend needs to rewrite it again. A slot is a few
dozen bytes instead of a 1.2 KB packet.

Retransmissions are rationed: a packet is resent at most ``MAX_RESENDS`` times, never twice within
``RESEND_INTERVAL_MS`` (a NACK repeated before our resend could arrive), and never from before the
subscription's last layer switch (the new keyframe made those packets useless). On a congested
link, unrationed resends queue ahead of fresh packets and turn a short loss into a long freeze.
A NACK is answered for at most as many sequence numbers as the history holds, and resends are
rate-limited per subscription: a subscriber's feedback must not cost the node more than its media.

cython_ext/history.pyx is the compiled twin; import through sfu.media.kernels.
"""

from __future__ import annotations

from sfu.rtp.rtcp import nack_seqs

# NACKs help only within a round trip plus the receiver's jitter buffer (well under 1 s); 512
# packets is 1.2 s at 4 Mbit/s and more for lower layers.
HISTORY_SIZE = 512
RESEND_INTERVAL_MS = 100
MAX_RESENDS = 2
# A subscription's resends per second, in bursts of up to RESEND_BURST: losing a tenth of a
# 4 Mbit/s stream is 40 packets/s. A subscriber asking for more is congested (resends would only
# add to it) or attacking the node's uplink. Counted in thousandths, so both implementations agree.
RESEND_RATE_PER_S = 100
RESEND_BURST = 100


# A packet to resend: where it is stored (layer, extended sequence number) and how it was sent
# (sequence number, timestamp, picture id, TL0PICIDX; -1 when absent).
Resend = tuple[int, int, int, int, int, int]


class PacketHistory:
    """A ring indexed by the 16-bit sequence number we sent the packet with."""

    __slots__ = (
        "_credit",
        "_credit_ms",
        "_resends",
        "_resent_ms",
        "_seqs",
        "_slots",
        "_valid_from",
    )

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        if size < 1 or size & (size - 1):
            raise ValueError("history size must be a power of two")
        self._slots: list[Resend | None] = [None] * size
        self._seqs = [-1] * size
        self._resends = [0] * size
        self._resent_ms = [0] * size
        self._valid_from = -1
        self._credit = RESEND_BURST * 1000  # resends allowed now, in thousandths
        self._credit_ms = 0

    def put(
        self, seq: int, layer: int, ext_seq: int, timestamp: int, picture_id: int, tl0picidx: int
    ) -> None:
        """Sent ``seq`` (16-bit): the stored packet (layer, ext_seq) with this numbering."""
        index = seq & (len(self._slots) - 1)
        self._slots[index] = (layer, ext_seq, seq, timestamp, picture_id, tl0picidx)
        self._seqs[index] = seq
        self._resends[index] = 0

    def forget_before(self, seq: int) -> None:
        """Packets sent before ``seq`` (16-bit) are no longer worth resending."""
        self._valid_from = seq

    def answer(self, fci: bytes, now_ms: int) -> tuple[list[Resend], int, int]:
        """The packets to resend for a generic NACK (its FCI), in the order asked; how many
        sequence numbers it asked for beyond what the history holds; how many resends the
        subscription's rate refused."""
        seqs, over_limit = nack_seqs(fci, len(self._slots))
        self._refill(now_ms)
        packets: list[Resend] = []
        refused = 0
        for seq in seqs:
            index = seq & (len(self._slots) - 1)
            packet = self._slots[index]
            if packet is None or not self._resendable(index, seq, now_ms):
                continue
            if self._credit < 1000:
                refused += 1
                continue
            self._credit -= 1000
            self._resends[index] += 1
            self._resent_ms[index] = now_ms
            packets.append(packet)
        return packets, over_limit, refused

    def _resendable(self, index: int, seq: int, now_ms: int) -> bool:
        """The rationing of one packet (see the module docstring)."""
        if self._seqs[index] != seq or self._resends[index] >= MAX_RESENDS:
            return False
        if self._valid_from >= 0 and 0 < (self._valid_from - seq) & 0xFFFF < 0x8000:
            return False
        return not (self._resends[index] and now_ms - self._resent_ms[index] < RESEND_INTERVAL_MS)

    def _refill(self, now_ms: int) -> None:
        """The token bucket: RESEND_RATE_PER_S a second, up to RESEND_BURST."""
        elapsed = max(0, now_ms - self._credit_ms)
        self._credit = min(RESEND_BURST * 1000, self._credit + elapsed * RESEND_RATE_PER_S)
        self._credit_ms = now_ms
