"""Which lost packets of one received RTP stream to NACK (RFC 4585 §6.2.1), and when: the rules of
libwebrtc's NackRequester, for the node's uplinks.

A gap in the extended sequence numbers puts each missing packet on a list; ``due`` asks for it at
once and again every round trip, until it arrives (counted recovered, whether reordered or
repaired), is given up (``MAX_TRIES`` requests, or too old for the sender to still hold it), or
is made useless by a keyframe that starts after it. A list that would outgrow ``MAX_MISSING`` is
cleared and the caller asks for a keyframe instead: repairing that much loss costs more uplink
than a keyframe, and the keyframe would make every repair useless anyway.

Pure: sequence numbers are extended (``sfu.rtp.seqnum.unwrap16``), time and round trip passed in.

Reporting contract. The compiled packet path calls ``on_packet`` only for a packet that is not the
next in order (``ext_seq != highest + 1``: a gap, a late packet, a duplicate) or that starts a
keyframe, and passes the highest extended sequence number it had received before that packet (-1
for none). The in-order packets it did not report are implied: everything up to that highest
arrived, in order, and none started a keyframe. An in-order packet moves nothing here but the
highest, so reporting every packet or only these gives the same requests, signals and counts.
"""

from __future__ import annotations

# Requests for one packet (libwebrtc's kMaxNackRetries): ten round trips without an answer means
# the sender cannot or will not resend it.
MAX_TRIES = 10
# The round trip assumed until RTCP has measured one (libwebrtc's kDefaultRtt).
DEFAULT_RTT_MS = 100
# Never ask again sooner: libwebrtc checks its list every 20 ms, so its retries are never closer,
# and on a ~1 ms loopback round trip all tries would go before the sender could answer the first.
MIN_RETRY_MS = 20
# A sender keeps a packet for at least max(1 s, 3 round trips) (libwebrtc's RtpPacketHistory);
# after that, whether it still has one is luck.
MAX_AGE_MS = 1_000
MAX_AGE_RTTS = 3
# A missing packet more than this far behind the newest is given up (libwebrtc's kMaxPacketAge).
MAX_AGE_PACKETS = 10_000
# The list's bound (libwebrtc's kMaxNackPackets): more loss than this asks for a keyframe.
MAX_MISSING = 1_000


class _Missing:
    __slots__ = ("detected_ms", "next_ms", "tries")

    def __init__(self, detected_ms: int) -> None:
        self.detected_ms = detected_ms
        self.next_ms = detected_ms  # asked for as soon as the gap shows
        self.tries = 0


class NackRequester:
    """The missing packets of one stream (one simulcast layer) and what became of them.

    Every missing packet ends as exactly one of ``recovered``, ``given_up``, ``superseded`` (a
    keyframe started after it) or ``overflowed``; ``nacked`` counts requests, retries included.
    """

    __slots__ = (
        "_highest",
        "_missing",
        "given_up",
        "nacked",
        "overflowed",
        "recovered",
        "superseded",
    )

    def __init__(self) -> None:
        self._highest = -1
        # By extended sequence number, ascending: a gap is always above everything listed.
        self._missing: dict[int, _Missing] = {}
        self.nacked = 0
        self.recovered = 0
        self.given_up = 0
        self.superseded = 0
        self.overflowed = 0

    def on_packet(self, ext_seq: int, keyframe: bool, now_ms: int, highest: int) -> bool:
        """A received packet (see the reporting contract above); ``highest`` is the highest
        extended sequence number received before it, -1 for none.

        True when the missing list overflowed and was cleared: request a keyframe instead.
        """
        self._highest = max(self._highest, highest)
        if self._highest < 0:
            self._highest = ext_seq
            return False
        if ext_seq <= self._highest:  # late (reordered or repaired) or a duplicate
            if self._missing.pop(ext_seq, None) is not None:
                self.recovered += 1
            if keyframe:
                self.superseded += self._drop_below(ext_seq)
            return False
        first_lost, self._highest = self._highest + 1, ext_seq
        if keyframe:  # what was lost before it is never needed
            self.superseded += self._drop_below(ext_seq) + ext_seq - first_lost
            return False
        if ext_seq == first_lost:
            return False
        self.given_up += self._drop_below(ext_seq - MAX_AGE_PACKETS)
        lost = ext_seq - first_lost
        if len(self._missing) + lost > MAX_MISSING:
            self.overflowed += len(self._missing) + lost
            self._missing.clear()
            return True
        for seq in range(first_lost, ext_seq):
            self._missing[seq] = _Missing(now_ms)
        return False

    def due(self, now_ms: int, rtt_ms: int | None) -> list[int]:
        """The missing packets to NACK now, ascending; each is counted as asked and next due a
        round trip later (``rtt_ms``, None before one is measured).

        A packet is given up when it falls due after its last try or too old, so an answer to its
        last request still counts as recovered.
        """
        retry_ms = max(MIN_RETRY_MS, DEFAULT_RTT_MS if rtt_ms is None else rtt_ms)
        max_age_ms = max(MAX_AGE_MS, MAX_AGE_RTTS * retry_ms)
        asked: list[int] = []
        expired: list[int] = []
        for seq, missing in self._missing.items():
            if missing.next_ms > now_ms:
                continue
            if missing.tries >= MAX_TRIES or now_ms - missing.detected_ms >= max_age_ms:
                expired.append(seq)
                continue
            missing.tries += 1
            missing.next_ms = now_ms + retry_ms
            asked.append(seq)
        for seq in expired:
            del self._missing[seq]
        self.given_up += len(expired)
        self.nacked += len(asked)
        return asked

    @property
    def next_due_ms(self) -> int | None:
        """When ``due`` next has something to do, None while nothing is missing: a timer for it
        replaces polling."""
        return min((missing.next_ms for missing in self._missing.values()), default=None)

    def _drop_below(self, limit: int) -> int:
        """Forget the missing packets below ``limit``; how many there were."""
        dropped = 0
        for seq in list(self._missing):  # ascending
            if seq >= limit:
                break
            del self._missing[seq]
            dropped += 1
        return dropped
