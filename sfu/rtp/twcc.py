"""Transport-wide cc on the wire (draft-holmer-rmcat-transport-wide-cc-extensions-01).

The RTP header extension carries a 16-bit sequence number counted across every packet on a
transport (§2); the receiver answers with feedback (RTCP RTPFB, FMT 15, §3.1) saying which of
those packets arrived and when. ``sfu.rtp.rtcp`` frames the feedback inside RTCP; this module
reads and writes what follows the two SSRCs. Malformed feedback is a ``ValueError`` with a
reason, so the whole RTCP packet is dropped and counted like any other malformed RTCP.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

REFERENCE_UNIT_US = 64_000  # the reference time counts 64 ms steps (§3.1)
DELTA_UNIT_US = 250  # receive deltas count 250 µs steps (§3.1.5)

_FB_HEADER = struct.Struct("!HHI")  # base seq, status count, reference time << 8 | fb count
_NOT_RECEIVED, _SMALL, _LARGE = 0, 1, 2  # status symbols (§3.1.1); 3 is reserved
_MAX_RUN = 0x1FFF  # 13-bit run length


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
    """Read the feedback after the two SSRCs. Chunks may describe more symbols than the status
    count (the last one is padded); up to 3 bytes of padding may follow the deltas."""
    if len(fci) < _FB_HEADER.size:
        raise ValueError("twcc header truncated")
    base_seq, count, word = _FB_HEADER.unpack_from(fci)
    if count == 0:
        raise ValueError("twcc status count is zero")
    symbols: list[int] = []
    pos = _FB_HEADER.size
    while len(symbols) < count:
        if pos + 2 > len(fci):
            raise ValueError("twcc status chunks truncated")
        chunk = fci[pos] << 8 | fci[pos + 1]
        pos += 2
        if not chunk & 0x8000:  # run length: T=0, 2-bit symbol, 13-bit length
            symbols += [chunk >> 13 & 0x03] * min(chunk & _MAX_RUN, count - len(symbols))
        elif not chunk & 0x4000:  # status vector of 14 one-bit symbols
            symbols += [chunk >> (13 - i) & 0x01 for i in range(14)]
        else:  # status vector of 7 two-bit symbols
            symbols += [chunk >> (12 - 2 * i) & 0x03 for i in range(7)]
    del symbols[count:]
    arrivals: list[int | None] = []
    ticks = 0
    for symbol in symbols:
        if symbol == _NOT_RECEIVED:
            arrivals.append(None)
            continue
        if symbol == _SMALL:
            if pos + 1 > len(fci):
                raise ValueError("twcc receive deltas truncated")
            ticks += fci[pos]
            pos += 1
        elif symbol == _LARGE:
            if pos + 2 > len(fci):
                raise ValueError("twcc receive deltas truncated")
            ticks += int.from_bytes(fci[pos : pos + 2], signed=True)
            pos += 2
        else:
            raise ValueError("twcc reserved status symbol")
        arrivals.append(ticks * DELTA_UNIT_US)
    if len(fci) - pos > 3:
        raise ValueError("twcc data after receive deltas")
    return TransportFeedback(
        sender_ssrc, media_ssrc, base_seq, word >> 8, word & 0xFF, tuple(arrivals)
    )


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
            symbols.append(_NOT_RECEIVED)
            continue
        ticks = (arrival + DELTA_UNIT_US // 2) // DELTA_UNIT_US
        delta, last = ticks - last, ticks
        if 0 <= delta <= 0xFF:
            symbols.append(_SMALL)
            deltas.append(delta)
        elif -0x8000 <= delta <= 0x7FFF:
            symbols.append(_LARGE)
            deltas += delta.to_bytes(2, signed=True)
        else:
            raise ValueError("twcc receive delta out of range")
    word = (feedback.reference_time & 0xFFFFFF) << 8 | (feedback.feedback_count & 0xFF)
    out = bytearray(_FB_HEADER.pack(feedback.base_seq & 0xFFFF, count, word))
    out += b"".join(chunk.to_bytes(2) for chunk in _chunks(symbols)) + deltas
    return bytes(out + bytes(-len(out) % 4))


def _chunks(symbols: list[int]) -> Iterator[int]:
    """Greedy chunking: a run where the same symbol repeats at least a vector's worth (or to
    the end), else the densest status vector the next symbols fit in."""
    i, n = 0, len(symbols)
    while i < n:
        run = 1
        while i + run < n and run < _MAX_RUN and symbols[i + run] == symbols[i]:
            run += 1
        if run >= 14 or i + run == n:
            yield symbols[i] << 13 | run
            i += run
        elif _LARGE not in symbols[i : i + 14]:
            yield 0x8000 | sum(s << (13 - k) for k, s in enumerate(symbols[i : i + 14]))
            i += 14
        else:
            yield 0xC000 | sum(s << (12 - 2 * k) for k, s in enumerate(symbols[i : i + 7]))
            i += 7
