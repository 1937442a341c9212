"""RTP sequence-number and timestamp arithmetic across wraparound (RFC 3550 §A.1, RFC 1982).

The extended ("unwrapped") values are plain ints that keep counting past 2**16 / 2**32, so
ordering, gaps and offsets are ordinary integer arithmetic.
"""


def unwrap16(last_ext: int, seq: int) -> int:
    """Extend a 16-bit seq to the value nearest last_ext, the highest extended seq so far.

    Pass last_ext=-1 for the first packet (returns seq). A packet older than the first one
    across a wrap gets a negative value; keep max(last_ext, result) as the next last_ext.
    """
    if last_ext < 0:
        return seq
    delta = (seq - last_ext) & 0xFFFF
    if delta >= 0x8000:  # exactly half-way counts as older, as in seq_lt16
        delta -= 0x10000
    return last_ext + delta


def seq_lt16(a: int, b: int) -> bool:
    """True if seq a comes before b, i.e. b is 1..2**15-1 steps ahead (RFC 1982)."""
    return 0 < ((b - a) & 0xFFFF) < 0x8000


def diff32(a: int, b: int) -> int:
    """a - b for 32-bit RTP timestamps, as the signed distance across wraparound."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000
