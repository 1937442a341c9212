"""How busy a node process is, for its heartbeat: RTP packets handled per second and the share
of a core it used, over the interval between two samples."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadSample:
    wall_s: float  # a monotonic clock
    cpu_s: float  # this process's CPU time
    packets: int  # RTP packets received and sent so far


MIN_INTERVAL_S = 0.001  # shorter intervals say nothing about a rate (and may overflow it)


def load_rates(before: LoadSample, after: LoadSample) -> tuple[float, float]:
    """Packets per second and the fraction of one core between two samples (0, 0 when less
    than a millisecond passed)."""
    elapsed = after.wall_s - before.wall_s
    if elapsed < MIN_INTERVAL_S:
        return 0.0, 0.0
    packets = max(after.packets - before.packets, 0)
    cpu = max(after.cpu_s - before.cpu_s, 0.0)
    return packets / elapsed, cpu / elapsed
