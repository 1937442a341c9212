"""Transport-wide cc on the wire (draft-holmer-rmcat-transport-wide-cc-extensions-01).

The RTP header extension carries a 16-bit sequence number counted across every packet on a
transport (§2); the receiver answers with feedback (RTCP RTPFB, FMT 15, §3.1) saying which of
those packets arrived and when. ``sfu.rtp.rtcp`` frames the feedback inside RTCP; this module
reads and writes what follows the two SSRCs. Malformed feedback is a ``ValueError`` with a
reason, so the whole RTCP packet is dropped and counted like any other malformed RTCP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sfu.rtp.kernels import read_feedback
from sfu.rtp.twcc_py import (
    DELTA_UNIT_US,
    FB_HEADER,
    LARGE,
    MAX_RUN,
    NOT_RECEIVED,
    REFERENCE_UNIT_US,
    SMALL,
)

__all__ = [
    "DELTA_UNIT_US",
    "REFERENCE_UNIT_US",
    "TransportFeedback",
    "pack_transport_feedback",
    "pack_transport_seq",
    "parse_transport_feedback",
    "transport_seq",
]


@dataclass(frozen=True, slots=True)
class TransportFeedback:
    """One feedback packet: the fate of ``len(arrivals)`` consecutive transport seqs."""

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    reference_time: int  # 24 bits, in 64 ms units of the receiver's clock (wraps, unsigned here)
    feedback_count: int  # 8 bits, +1 per feedback packet the receiver sends
    arrivals: tuple[int | None, ...]  # per seq from base_seq: µs after the reference, or None

    @property
    def reference_us(self) -> int:
        return self.reference_time * REFERENCE_UNIT_US

    def packets(self) -> Iterator[tuple[int, int | None]]:
        """(16-bit transport seq, arrival µs after the reference or None when lost)."""
        for i, arrival in enumerate(self.arrivals):
            yield (self.base_seq + i) & 0xFFFF, arrival


def transport_seq(value: bytes) -> int:
    """The transport-wide seq of a header extension element's value (§2: 16 bits)."""
    if len(value) != 2:
        raise ValueError("twcc extension length is not 2")
    return int.from_bytes(value)


def pack_transport_seq(seq: int) -> bytes:
    return (seq & 0xFFFF).to_bytes(2)


def parse_transport_feedback(sender_ssrc: int, media_ssrc: int, fci: bytes) -> TransportFeedback:
    """Read the feedback after the two SSRCs (``read_feedback``: a kernel, as a subscriber's
    feedback reports every packet it gets)."""
    return TransportFeedback(sender_ssrc, media_ssrc, *read_feedback(fci))


def pack_transport_feedback(feedback: TransportFeedback) -> bytes:
    """The bytes after the two SSRCs, zero-padded to 32 bits. Arrivals are rounded to 250 µs;
    a gap between consecutive arrivals beyond a signed 16-bit count of 250 µs (±8.19 s) cannot
    be written (the receiver starts a new feedback packet there)."""
    count = len(feedback.arrivals)
    if not 0 < count <= 0xFFFF:
        raise ValueError("twcc status count out of range")
    symbols: list[int] = []
    deltas = bytearray()
    last = 0
    for arrival in feedback.arrivals:
        if arrival is None:
            symbols.append(NOT_RECEIVED)
            continue
        ticks = (arrival + DELTA_UNIT_US // 2) // DELTA_UNIT_US
        delta, last = ticks - last, ticks
        if 0 <= delta <= 0xFF:
            symbols.append(SMALL)
            deltas.append(delta)
        elif -0x8000 <= delta <= 0x7FFF:
            symbols.append(LARGE)
            deltas += delta.to_bytes(2, signed=True)
        else:
            raise ValueError("twcc receive delta out of range")
    word = (feedback.reference_time & 0xFFFFFF) << 8 | (feedback.feedback_count & 0xFF)
    out = bytearray(FB_HEADER.pack(feedback.base_seq & 0xFFFF, count, word))
    out += b"".join(chunk.to_bytes(2) for chunk in _chunks(symbols)) + deltas
    return bytes(out + bytes(-len(out) % 4))


def _chunks(symbols: list[int]) -> Iterator[int]:
    """Greedy chunking: a run where the same symbol repeats at least a vector's worth (or to
    the end), else the densest status vector the next symbols fit in."""
    i, n = 0, len(symbols)
    while i < n:
        run = 1
        while i + run < n and run < MAX_RUN and symbols[i + run] == symbols[i]:
            run += 1
        if run >= 14 or i + run == n:
            yield symbols[i] << 13 | run
            i += run
        elif LARGE not in symbols[i : i + 14]:
            yield 0x8000 | sum(s << (13 - k) for k, s in enumerate(symbols[i : i + 14]))
            i += 14
        else:
            yield 0xC000 | sum(s << (12 - 2 * k) for k, s in enumerate(symbols[i : i + 7]))
            i += 7
