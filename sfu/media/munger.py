"""Sequence numbers and timestamps of one subscription, continuous across starts and switches.

The subscriber must see one stream: no false gaps (a gap makes it NACK and stall) and timestamps
that never go backwards (its jitter buffer would drop frames). Modelled on LiveKit's RTPMunger and
mediasoup's SeqManager, with extended (unwrapped) input numbers so no wraparound case exists here.
"""

from __future__ import annotations


class Munger:
    """Maps a publisher layer's (extended seq, timestamp) to the subscriber's numbering."""

    __slots__ = ("_last_ms", "_seq_offset", "_start", "last_seq", "last_ts", "ts_offset")

    def __init__(self, *, first_seq: int, first_ts: int) -> None:
        self.last_seq = first_seq - 1  # extended: the first packet gets first_seq
        self.last_ts = first_ts
        self.ts_offset = 0
        self._seq_offset = 0
        self._start = -1
        self._last_ms = -1

    @property
    def started(self) -> bool:
        return self._start >= 0

    def switch(self, ext_seq: int, timestamp: int, now_ms: int, clock_rate: int) -> None:
        """Continue from a new point (first packet, or the keyframe of a new layer).

        The first output timestamp after a switch advances by the wall time elapsed since the
        last packet (at least one tick), so the subscriber's clock keeps running smoothly.
        """
        advance = 0 if self._last_ms < 0 else max(1, (now_ms - self._last_ms) * clock_rate // 1000)
        self._seq_offset = self.last_seq + 1 - ext_seq
        self.ts_offset = (self.last_ts + advance - timestamp) & 0xFFFFFFFF
        self._start = ext_seq

    def translate(self, ext_seq: int, timestamp: int, now_ms: int) -> tuple[int, int] | None:
        """Output (seq, timestamp), or None for a packet from before the current start point."""
        if ext_seq < self._start or self._start < 0:
            return None
        seq = ext_seq + self._seq_offset
        ts = (timestamp + self.ts_offset) & 0xFFFFFFFF
        if seq > self.last_seq:
            self.last_seq = seq
            self.last_ts = ts
            self._last_ms = now_ms
        return seq & 0xFFFF, ts
