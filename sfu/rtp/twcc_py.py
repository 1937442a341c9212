"""Transport-cc feedback read from the wire: the spec of cython_ext/twcc.pyx. A subscriber's
feedback reports every packet it got, so reading it is per-packet work (``sfu.rtp.twcc`` frames
it as a ``TransportFeedback``). Malformed feedback is a ``ValueError`` with a reason."""

from __future__ import annotations

import struct

REFERENCE_UNIT_US = 64_000  # the reference time counts 64 ms steps (§3.1)
DELTA_UNIT_US = 250  # receive deltas count 250 µs steps (§3.1.5)
FB_HEADER = struct.Struct("!HHI")  # base seq, status count, reference time << 8 | fb count
NOT_RECEIVED, SMALL, LARGE = 0, 1, 2  # status symbols (§3.1.1); 3 is reserved
MAX_RUN = 0x1FFF  # 13-bit run length


def read_feedback(fci: bytes) -> tuple[int, int, int, tuple[int | None, ...]]:
    """(base seq, reference time, feedback count, per seq from the base: µs after the reference
    or None) of the feedback after the two SSRCs. Chunks may describe more symbols than the
    status count (the last one is padded); up to 3 bytes of padding may follow the deltas."""
    if len(fci) < FB_HEADER.size:
        raise ValueError("twcc header truncated")
    base_seq, count, word = FB_HEADER.unpack_from(fci)
    if count == 0:
        raise ValueError("twcc status count is zero")
    symbols: list[int] = []
    pos = FB_HEADER.size
    while len(symbols) < count:
        if pos + 2 > len(fci):
            raise ValueError("twcc status chunks truncated")
        chunk = fci[pos] << 8 | fci[pos + 1]
        pos += 2
        if not chunk & 0x8000:  # run length: T=0, 2-bit symbol, 13-bit length
            symbols += [chunk >> 13 & 0x03] * min(chunk & MAX_RUN, count - len(symbols))
        elif not chunk & 0x4000:  # status vector of 14 one-bit symbols
            symbols += [chunk >> (13 - i) & 0x01 for i in range(14)]
        else:  # status vector of 7 two-bit symbols
            symbols += [chunk >> (12 - 2 * i) & 0x03 for i in range(7)]
    del symbols[count:]
    arrivals: list[int | None] = []
    ticks = 0
    for symbol in symbols:
        if symbol == NOT_RECEIVED:
            arrivals.append(None)
            continue
        if symbol == SMALL:
            if pos + 1 > len(fci):
                raise ValueError("twcc receive deltas truncated")
            ticks += fci[pos]
            pos += 1
        elif symbol == LARGE:
            if pos + 2 > len(fci):
                raise ValueError("twcc receive deltas truncated")
            ticks += int.from_bytes(fci[pos : pos + 2], signed=True)
            pos += 2
        else:
            raise ValueError("twcc reserved status symbol")
        arrivals.append(ticks * DELTA_UNIT_US)
    if len(fci) - pos > 3:
        raise ValueError("twcc data after receive deltas")
    return base_seq, word >> 8, word & 0xFF, tuple(arrivals)
