"""What one participant may send as data messages: token buckets of messages and bytes, and
how often it is told it went over. Decisions only; time is passed in.

Lossy messages (``reliable: false``) may not dip into a reserve of each bucket, kept for
reliable ones: a flood of cursor positions is cut before a chat message is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sfu.signaling.messages import MAX_FRAME_BYTES


class DataDrop(enum.Enum):
    """Why a data message (or one receiver's copy of it) was not delivered: a metric label."""

    NOT_ALLOWED = "not_allowed"  # the token has no publish_data grant
    TOO_LARGE = "too_large"  # a frame over MAX_FRAME_BYTES after joining
    RATE_LIMITED = "rate_limited"
    UNKNOWN_RECIPIENT = "unknown_recipient"  # one per name in `to` nobody in the room has
    RECEIVER_BACKLOG = "receiver_backlog"  # a lossy copy for a receiver that is behind


@dataclass(slots=True)
class DataCounters:
    """A node's data messages; read by its metrics."""

    forwarded: int = 0  # copies queued to receivers
    cut_off: int = 0  # sessions closed: their client read nothing while `receiver_backlog` waited
    drops: dict[DataDrop, int] = field(default_factory=lambda: dict.fromkeys(DataDrop, 0))


@dataclass(frozen=True, slots=True)
class DataLimits:
    messages_per_s: float = 20.0
    message_burst: float = 50.0
    bytes_per_s: float = 64 * 1024  # of payload
    byte_burst: float = 256 * 1024
    lossy_reserve: float = 0.2  # the share of each burst lossy messages leave to reliable ones
    error_interval_ms: int = 1000  # at most one rate_limited error this often
    # messages waiting for a client's socket (once its kernel buffers are full) beyond which it
    # is cut off: a client that stops reading must not make the node hold a room's traffic
    receiver_backlog: int = 1000

    def __post_init__(self) -> None:
        if self.messages_per_s <= 0 or self.bytes_per_s <= 0:
            raise ValueError("data rates must be positive")
        if not 0 <= self.lossy_reserve < 1:
            raise ValueError("lossy_reserve must be in [0, 1)")
        if self.message_burst * (1 - self.lossy_reserve) < 1:
            raise ValueError("message_burst leaves lossy messages no room")
        if self.byte_burst * (1 - self.lossy_reserve) < MAX_FRAME_BYTES:
            raise ValueError(f"byte_burst must let a lossy {MAX_FRAME_BYTES}-byte payload through")

    def describe(self) -> str:
        return (
            f"{self.messages_per_s:g} messages/s (burst {self.message_burst:g}) and "
            f"{self.bytes_per_s:g} payload bytes/s (burst {self.byte_burst:g})"
        )


class DataBudget:
    """One participant's two token buckets, full at the start."""

    def __init__(self, limits: DataLimits, now_ms: int) -> None:
        self._limits = limits
        self._messages = limits.message_burst
        self._bytes = limits.byte_burst
        self._at_ms = now_ms

    def take(self, size: int, *, reliable: bool, now_ms: int) -> bool:
        """Whether a message with a `size`-byte payload may go now (its tokens are taken)."""
        limits = self._limits
        elapsed_s = max(0, now_ms - self._at_ms) / 1000
        self._at_ms = max(self._at_ms, now_ms)
        self._messages = min(
            limits.message_burst, self._messages + elapsed_s * limits.messages_per_s
        )
        self._bytes = min(limits.byte_burst, self._bytes + elapsed_s * limits.bytes_per_s)
        keep = 0.0 if reliable else limits.lossy_reserve
        if (
            self._messages - 1 < keep * limits.message_burst
            or self._bytes - size < keep * limits.byte_burst
        ):
            return False
        self._messages -= 1
        self._bytes -= size
        return True


class RefusalReports:
    """Coalesces refusals into one report per interval: the first is reported at once, the
    ones after it wait for the next report, which counts them."""

    def __init__(self, interval_ms: int) -> None:
        self._interval_ms = interval_ms
        self._last_ms: int | None = None
        self._pending = 0

    def refused(self, now_ms: int) -> int | None:
        """None: say nothing now; else report now the refusals since the last report, this
        one included."""
        self._pending += 1
        if self._last_ms is not None and now_ms - self._last_ms < self._interval_ms:
            return None
        self._last_ms = now_ms
        count, self._pending = self._pending, 0
        return count
