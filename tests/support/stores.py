"""Clocks and stores for tests of the cluster's state: a settable clock, and store factories."""

from __future__ import annotations

from collections.abc import Callable

from cluster.store import RedisStore

RedisStoreFactory = Callable[..., RedisStore]
T0 = 1_700_000_000.0


class Clock:
    """A settable clock for the apps and stores under test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
