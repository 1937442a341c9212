"""Turning raw counts of one measurement window into the figures an operator reads. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class StepResult:
    """Everything measured for one scenario (or one ramp step) against one SFU."""

    target: str
    scenario: str
    participants: int
    publishers: int
    subscribers: int
    expected_streams: int
    window_s: float
    video_subscriptions: int = 0
    complete: bool = True  # false when interrupted or joins failed
    joined: int = 0
    join_failures: int = 0
    join_ms_p50: float | None = None
    join_ms_p95: float | None = None
    streams_received: int = 0
    sent_pkts: int = 0
    received_pkts: int = 0
    received_bytes: int = 0
    expected_pkts: int = 0
    frames: int = 0
    freezes: int = 0
    layer_switches: int = 0
    keyframe_requests: int = 0  # PLI/FIR that reached publishers during the window
    nacks: int = 0  # NACKs that reached publishers during the window
    delay_ms_p50: float | None = None
    delay_ms_p95: float | None = None
    delay_ms_p99: float | None = None
    subscriber_kbps: dict[str, float] = field(default_factory=dict)  # per video layer height
    server_cpu_s: float | None = None
    server_rss_mb: float | None = None
    server_pkts_out: float | None = None  # from the SFU's own counters, when it has them
    server_pkts_in: float | None = None
    generator_cpu_s: float = 0.0  # summed over worker processes with --workers
    generator_cpu_max_s: float | None = None  # the busiest worker's, with --workers
    worker_pids: list[int] = field(default_factory=list)  # with --workers
    notes: list[str] = field(default_factory=list)

    @property
    def forwarded_pps(self) -> float:
        return self.received_pkts / self.window_s if self.window_s else 0.0

    @property
    def forwarded_mbps(self) -> float:
        return self.received_bytes * 8 / self.window_s / 1e6 if self.window_s else 0.0

    @property
    def loss(self) -> float:
        if not self.expected_pkts:
            return 0.0
        return max(0.0, 1 - self.received_pkts / self.expected_pkts)

    @property
    def server_cpu_pct(self) -> float | None:
        if self.server_cpu_s is None or not self.window_s:
            return None
        return 100 * self.server_cpu_s / self.window_s

    @property
    def generator_cpu_pct(self) -> float:
        return 100 * self.generator_cpu_s / self.window_s if self.window_s else 0.0

    @property
    def generator_us_per_pkt(self) -> float | None:
        """Generator CPU time (all its processes) per packet delivered to a subscriber."""
        if not self.received_pkts:
            return None
        return self.generator_cpu_s * 1e6 / self.received_pkts

    @property
    def cpu_us_per_pkt(self) -> float | None:
        """Server CPU time per packet delivered to a subscriber."""
        if self.server_cpu_s is None or not self.received_pkts:
            return None
        return self.server_cpu_s * 1e6 / self.received_pkts

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in (
            "forwarded_pps",
            "forwarded_mbps",
            "loss",
            "server_cpu_pct",
            "generator_cpu_pct",
            "generator_us_per_pkt",
            "cpu_us_per_pkt",
        ):
            data[name] = getattr(self, name)
        return data


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_loss: float = 0.01
    max_p99_delay_ms: float = 100.0
    max_freezes: int = 0


def failures(result: StepResult, limits: Thresholds) -> list[str]:
    """Why a step does not meet the quality thresholds (empty: it does)."""
    why = []
    if not result.complete:
        why.append("incomplete")
    if result.join_failures:
        why.append(f"{result.join_failures} joins failed")
    if result.streams_received < result.expected_streams:
        why.append(f"{result.streams_received}/{result.expected_streams} streams")
    if result.loss > limits.max_loss:
        why.append(f"loss {result.loss:.2%}")
    p99 = result.delay_ms_p99
    if p99 is None or p99 > limits.max_p99_delay_ms:
        why.append(f"p99 delay {p99 if p99 is None else round(p99, 1)} ms")
    if result.freezes > limits.max_freezes:
        why.append(f"{result.freezes} freezes")
    return why
