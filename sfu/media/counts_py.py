"""The node's packet counters as plain numbers: the spec of cython_ext/counts.pyx.

The packet path bumps them once per packet (the compiled ingest in C, without a Python object
per count); ``sfu.media.counters.MediaCounters`` gives them their names and drop reasons.
"""

from __future__ import annotations

# Drop codes are small ints (sfu.media.counters.DropReason.code); room for all of them.
MAX_CODE = 64


class Counts:
    """Totals in and out, and one count per drop code."""

    __slots__ = (
        "_drops",
        "bytes_in",
        "bytes_out",
        "clamped_estimates",
        "packets_in",
        "packets_out",
        "retransmits",
        "uplink_nacked",
        "uplink_recovered",
        "uplink_unrecovered",
    )

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.retransmits = 0
        self.clamped_estimates = 0  # REMB values outside any plausible range
        # Uplink repair (sfu.media.nack_requester): sequence numbers NACKed to publishers,
        # retries included; lost packets that arrived after all; lost packets given up.
        self.uplink_nacked = 0
        self.uplink_recovered = 0
        self.uplink_unrecovered = 0
        self._drops = [0] * MAX_CODE

    def add_drop(self, code: int, count: int = 1) -> None:
        if not 0 <= code < MAX_CODE:
            raise ValueError(f"drop code {code} out of range")
        self._drops[code] += count

    def dropped(self, code: int) -> int:
        if not 0 <= code < MAX_CODE:
            raise ValueError(f"drop code {code} out of range")
        return self._drops[code]
