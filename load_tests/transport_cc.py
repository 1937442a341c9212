"""transport-cc feedback (RTCP RTPFB FMT 15) from a subscriber's recorded arrivals, built the
way a browser's receiver builds it, so the SFU's send-side estimator runs as it would for one.

Each feedback reports the transport seqs from the first one not yet reported up to the highest
received (None for those missing); a packet older than that arrived too late to be reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from sfu.rtp.twcc import DELTA_UNIT_US, REFERENCE_UNIT_US, TransportFeedback

MAX_SEQS = 500  # per feedback packet: one datagram (~1.2 KB) even if every delta is large
MAX_TICKS = 0x7FFF  # a receive delta is a signed 16-bit count of DELTA_UNIT_US


def feedback(
    arrivals: Sequence[tuple[int, int]],
    base_seq: int | None,
    feedback_count: int,
    *,
    sender_ssrc: int,
    media_ssrc: int,
) -> list[TransportFeedback]:
    """Feedback on ``arrivals`` ((16-bit transport seq, arrival µs), in arrival order) from
    ``base_seq`` on (None: from the lowest seq received), numbered from ``feedback_count``.

    Split where a packet would cover more than MAX_SEQS seqs or a receive delta would not fit
    its 16 bits; each packet's reference time is its first received seq's arrival (floored to
    64 ms, 24-bit), as libwebrtc does."""
    if not arrivals:
        return []
    if base_seq is None:
        first = arrivals[0][0]
        base_seq = min((((seq - first + 0x8000) & 0xFFFF) - 0x8000 for seq, _ in arrivals))
        base_seq = (first + base_seq) & 0xFFFF
    received: dict[int, int] = {}  # seqs after base_seq -> arrival µs, the first if duplicated
    for seq, arrival_us in arrivals:
        offset = (seq - base_seq) & 0xFFFF
        if offset < 0x8000:  # else older than the base: reported as lost already
            received.setdefault(offset, arrival_us)
    if not received:
        return []
    slots = [received.get(offset) for offset in range(max(received) + 1)]
    packets: list[TransportFeedback] = []
    start = 0
    while start < len(slots):
        reference = next(us for us in slots[start:] if us is not None) // REFERENCE_UNIT_US
        origin_us = reference * REFERENCE_UNIT_US
        stop, last = start, 0
        while stop < len(slots) and stop - start < MAX_SEQS:
            us = slots[stop]
            if us is not None:
                ticks = (us - origin_us + DELTA_UNIT_US // 2) // DELTA_UNIT_US
                if abs(ticks - last) > MAX_TICKS:
                    break
                last = ticks
            stop += 1
        packets.append(
            TransportFeedback(
                sender_ssrc=sender_ssrc,
                media_ssrc=media_ssrc,
                base_seq=(base_seq + start) & 0xFFFF,
                reference_time=reference & 0xFFFFFF,
                feedback_count=(feedback_count + len(packets)) & 0xFF,
                arrivals=tuple(None if us is None else us - origin_us for us in slots[start:stop]),
            )
        )
        start = stop
    return packets
