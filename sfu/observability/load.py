"""How busy a node process is, for its heartbeat: RTP packets handled per second and the share
of a core it used, over the interval between two samples."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadSample:
    wall_s: float  # a monotonic clock
    cpu_s: float  # this process's CPU time
    packets: int  # RTP packets received and sent so far


def load_rates(before: LoadSample, after: LoadSample) -> tuple[float, float]:
    """Packets per second and the fraction of one core between two samples (0, 0 when no
    time passed)."""
    elapsed = after.wall_s - before.wall_s
    if elapsed <= 0:
        return 0.0, 0.0
    packets = max(after.packets - before.packets, 0)
    cpu = max(after.cpu_s - before.cpu_s, 0.0)
    return packets / elapsed, cpu / elapsed
