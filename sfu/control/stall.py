"""Noticing that this process did not run for a while (SIGSTOP, a frozen VM, a starved loop).

Past the node liveness TTL the control plane counts the node dead and may give its rooms to
another node; the node must not forward a packet for them before the store says which rooms
are still its own. The media port and the node's tick both ask, so whichever runs first after
the pause notices it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StallWatch:
    def __init__(self, limit_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self._clock = clock
        self._seen = clock()

    def stalled(self) -> bool:
        """True if more than `limit_s` passed since the last call (or since creation)."""
        now = self._clock()
        gap, self._seen = now - self._seen, now
        return gap > self.limit_s
