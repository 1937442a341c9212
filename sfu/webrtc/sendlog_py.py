"""Transport-wide sequence numbers on what one subscriber transport sends, and a log of each
packet's departure: the spec of cython_ext/sendlog.pyx.

transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01) numbers every RTP packet of a
transport in the order it leaves, across all its streams and resends, so the number is written
where packets leave (the datapath's queue), not where they are built: the forwarder leaves a
2-byte slot for it at ``TRANSPORT_SEQ_AT`` (``sfu.rtp.rtp_py.rewrite_rtp``). The receiver's
feedback names packets by that number; the log says when each one left, its size and the probe
it belonged to, and keeps the verdict a feedback gave it, so that a packet is judged once.
Compiled, stamping costs the datapath a few C stores per packet and no Python.
"""

from __future__ import annotations

from sfu.media.arrivals_py import UNKNOWN, Sent
from sfu.rtp.rtp_py import TRANSPORT_SEQ_AT

# Packets remembered: seconds of a subscriber's traffic, where feedback comes within ~100 ms.
# A power of two dividing 2**16, so a 16-bit seq names its slot.
LOG_SIZE = 2048


class SendLog:
    """One per subscriber transport. ``probe`` is recorded with every packet logged while it is
    set (the probe being sent, 0 otherwise)."""

    __slots__ = ("_fate", "_marker", "_mask", "_ms", "_probe", "_seq", "_size", "next_seq", "probe")

    def __init__(self, extension_id: int, size: int = LOG_SIZE) -> None:
        if not 1 <= extension_id <= 14:
            raise ValueError("transport-cc extension id out of range")
        if not 1 <= size <= 0x10000 or size & (size - 1):
            raise ValueError("send log size must be a power of two up to 65536")
        self._marker = extension_id << 4 | 1  # the element's id and length byte (2 bytes: 1)
        self._mask = size - 1
        self._seq = [-1] * size
        self._ms = [0] * size
        self._size = [0] * size
        self._probe = [0] * size
        self._fate = bytearray(size)
        self.next_seq = 0  # extended: the next packet's
        self.probe = 0

    def stamp(self, data: bytes, now_ms: int) -> bytes:
        """``data`` with the next seq in its slot, logged; as it is if it has no slot (an RTP
        packet from our rewrite: version 2, no CSRC, the one-byte profile, our element first)."""
        at = TRANSPORT_SEQ_AT
        if (
            len(data) < at + 2
            or data[0] & 0xDF != 0x90
            or data[12:14] != b"\xbe\xde"
            or data[at - 1] != self._marker
        ):
            return data
        seq = self.record(len(data), now_ms)
        return data[:at] + (seq & 0xFFFF).to_bytes(2) + data[at + 2 :]

    def record(self, size: int, now_ms: int) -> int:
        """Log a packet of ``size`` bytes leaving now; its extended seq."""
        seq, slot = self.next_seq, self.next_seq & self._mask
        self._seq[slot], self._ms[slot], self._size[slot] = seq, now_ms, size
        self._probe[slot], self._fate[slot] = self.probe, UNKNOWN
        self.next_seq = seq + 1
        return seq

    def sent(self, seq: int) -> Sent | None:
        """The packet last sent with 16-bit ``seq``, while the log holds it."""
        slot = seq & self._mask
        ext = self._seq[slot]
        if ext < 0 or ext & 0xFFFF != seq & 0xFFFF:
            return None
        return ext, self._ms[slot], self._size[slot], self._probe[slot], self._fate[slot]

    def judge(self, seq: int, fate: int) -> None:
        """Keep what feedback said of the packet sent with 16-bit ``seq`` (if still held)."""
        slot = seq & self._mask
        ext = self._seq[slot]
        if ext >= 0 and ext & 0xFFFF == seq & 0xFFFF:
            self._fate[slot] = fate
