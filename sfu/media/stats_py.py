"""Reception statistics of one incoming RTP stream, for receiver reports (RFC 3550 A.3, A.8): the
spec of cython_ext/stats.pyx."""

from __future__ import annotations

from sfu.rtp.rtcp import ntp_middle32
from sfu.rtp.seqnum import unwrap16

# fraction lost, cumulative lost, highest sequence number, jitter, LSR, DLSR (a ReportBlock
# without its SSRC)
Report = tuple[int, int, int, int, int, int]


class StreamStats:
    """Loss, jitter and the last sender report of one SSRC as the publisher sends it."""

    __slots__ = (
        "_base",
        "_expected_prior",
        "_jitter",
        "_received_prior",
        "_transit",
        "clock_rate",
        "highest",
        "last_sr_at_ms",
        "last_sr_ntp",
        "last_sr_rtp",
        "received",
    )

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.highest = -1
        self.received = 0
        self._base = -1
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: int | None = None
        self._jitter = 0.0
        self.last_sr_ntp = 0
        self.last_sr_rtp = 0
        self.last_sr_at_ms = -1

    def extend(self, seq: int) -> int:
        """The extended sequence number ``seq`` would get, without accounting for it."""
        return unwrap16(self.highest, seq)

    def update(self, seq: int, timestamp: int, arrival_ms: int, repaired: bool = False) -> int:
        """Account for one packet; return its extended sequence number."""
        ext = self.extend(seq)
        self.account(ext, timestamp, arrival_ms, repaired)
        return ext

    def account(self, ext: int, timestamp: int, arrival_ms: int, repaired: bool = False) -> None:
        """Account for one packet already extended (``extend``). A ``repaired`` packet
        (unwrapped from RTX) counts as received but not in the jitter: its delay is the
        repair's, not the network's (RFC 4588 §8.3)."""
        if self._base < 0:
            self._base = ext
        if ext > self.highest:
            self.highest = ext
        self.received += 1
        if repaired:
            return
        transit = arrival_ms * self.clock_rate // 1000 - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate * 10:  # a timestamp jump (new source) is not jitter
                self._jitter += (d - self._jitter) / 16
        self._transit = transit

    def on_sender_report(self, ntp: int, rtp_timestamp: int, now_ms: int) -> None:
        self.last_sr_ntp = ntp
        self.last_sr_rtp = rtp_timestamp
        self.last_sr_at_ms = now_ms

    def report(self, now_ms: int) -> Report:
        """The fields of a receiver report block since the last call (RFC 3550 §6.4.1)."""
        expected = self.highest - self._base + 1
        lost = max(0, expected - self.received)
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (
            (lost_interval << 8) // expected_interval
            if expected_interval > 0 and lost_interval > 0
            else 0
        )
        lsr = dlsr = 0
        if self.last_sr_at_ms >= 0:
            lsr = ntp_middle32(self.last_sr_ntp)
            dlsr = (now_ms - self.last_sr_at_ms) * 65536 // 1000
        return (
            min(fraction, 255),
            min(lost, 0x7FFFFF),
            self.highest & 0xFFFFFFFF,
            int(self._jitter),
            lsr,
            dlsr,
        )
