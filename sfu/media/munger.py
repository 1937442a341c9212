"""Sequence numbers and timestamps of one subscription, continuous across starts and switches.

The subscriber must see one stream: no false gaps (a gap makes it NACK and stall) and timestamps
that never go backwards (its jitter buffer would drop frames). Modelled on LiveKit's RTPMunger and
mediasoup's SeqManager, with extended (unwrapped) input numbers so no wraparound case exists here.
"""

from __future__ import annotations

MAX_JUMP_S = 5


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

    def rebase(self, first_seq: int, first_ts: int) -> None:
        """Number from ``first_seq`` and ``first_ts`` after all: only before the first packet."""
        if self.started:
            raise ValueError("rebase after the first packet")
        self.last_seq, self.last_ts = first_seq - 1, first_ts

    def switch(
        self,
        ext_seq: int,
        timestamp: int,
        now_ms: int,
        clock_rate: int,
        *,
        aligned_ts: int | None = None,
    ) -> None:
        """Continue from a new point (first packet, or the keyframe of a new layer).

        ``aligned_ts`` is the output timestamp this packet's capture time maps to (from the
        publisher's sender reports); without it, the output timestamp advances by the wall time
        since the last packet. Either way it moves forward by at least one tick and at most
        ``MAX_JUMP_S``, so the subscriber's clock never runs backwards or leaps.
        """
        elapsed = 0 if self._last_ms < 0 else max(1, (now_ms - self._last_ms) * clock_rate // 1000)
        advance = elapsed
        if aligned_ts is not None and self._last_ms >= 0:
            ahead = (aligned_ts - self.last_ts) & 0xFFFFFFFF
            if 0 < ahead <= MAX_JUMP_S * clock_rate:
                advance = ahead
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

    def translate_late(self, ext_seq: int, timestamp: int) -> tuple[int, int] | None:
        """Output (seq, timestamp) of a packet older than the last one sent (reordered), from
        the current start point on; None for any other."""
        seq = ext_seq + self._seq_offset
        if self._start < 0 or ext_seq < self._start or seq > self.last_seq:
            return None
        return seq & 0xFFFF, (timestamp + self.ts_offset) & 0xFFFFFFFF

    def pad(self) -> tuple[int, int]:
        """Number one packet of our own (padding) right after the last one sent, with its
        timestamp. Packets from before it can no longer be numbered (they would take its
        number): the start point moves past them."""
        self._start = self.last_seq - self._seq_offset + 1
        self._seq_offset += 1
        self.last_seq += 1
        return self.last_seq & 0xFFFF, self.last_ts
