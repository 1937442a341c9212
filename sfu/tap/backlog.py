"""What waits for a bot's socket: a bounded queue that drops the oldest frame when full, and
says when the bot has read nothing for too long. Decisions only; time is passed in."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class TapCounters:
    """A node's taps; read by its metrics."""

    opened: int = 0  # taps that started streaming
    frames: int = 0  # binary frames written to bots
    dropped: int = 0  # frames dropped because a bot's backlog was full
    cut_off: int = 0  # taps closed because their bot read nothing for too long
    spoken: int = 0  # RTP packets of bots' voices handed to the room
    voice_dropped: int = 0  # frames of bots' voices dropped: sent while 30 s waited already
    cpu_s: float = 0.0  # decoding, resampling and mixing, in the node's thread


class Backlog(Generic[T]):
    """At most `size` items; offered beyond, the oldest goes (live audio: the newest matters).
    `stalled` once items have waited `stall_ms` with none taken."""

    def __init__(self, size: int, stall_ms: int) -> None:
        self._items: deque[T] = deque()
        self._size = size
        self._stall_ms = stall_ms
        self._waiting_since_ms = -1  # when the queue last went from empty, or was last read
        self.dropped = 0

    def offer(self, item: T, now_ms: int) -> bool:
        """Queue `item`; False if an older one was dropped to make room."""
        if not self._items:
            self._waiting_since_ms = now_ms
        self._items.append(item)
        if len(self._items) > self._size:
            self._items.popleft()
            self.dropped += 1
            return False
        return True

    def take(self, now_ms: int) -> T | None:
        if not self._items:
            return None
        self._waiting_since_ms = now_ms
        return self._items.popleft()

    def stalled(self, now_ms: int) -> bool:
        return bool(self._items) and now_ms - self._waiting_since_ms >= self._stall_ms

    def __len__(self) -> int:
        return len(self._items)
