"""Per-source token buckets for STUN on the node's port: a flood from one address costs a dict
lookup, not a parse and an HMAC. Time is passed in."""

from __future__ import annotations

from collections.abc import Hashable


class SourceRateLimiter:
    """``rate_per_s`` requests per source, bursts of ``burst``; at most ``max_sources`` tracked
    (the oldest is forgotten first, so memory stays bounded under spoofed sources)."""

    def __init__(self, *, rate_per_s: float, burst: float, max_sources: int) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._max = max_sources
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # source -> (tokens, at)

    def allow(self, source: Hashable, now: float) -> bool:
        tokens, at = self._buckets.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - at) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= self._max:
            del self._buckets[next(iter(self._buckets))]
        self._buckets[source] = (tokens, now)  # re-inserted: most recent last
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
