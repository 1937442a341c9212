"""The one clock of the packet path: monotonic milliseconds, read at the edges and passed in."""

from __future__ import annotations

import time


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000
