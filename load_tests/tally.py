"""Raw counts of one measurement window for a group of participants, as plain JSON, so worker
processes can hand theirs to the parent, which merges them. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from load_tests.results import StepResult, percentile

DELAY_BIN_NS = 100_000  # end-to-end delays are counted in bins of 0.1 ms


@dataclass(frozen=True, slots=True)
class StreamCount:
    """One received stream's window deltas (``kind`` audio/video, ``height`` its last layer)."""

    kind: str
    height: int
    packets: int
    bytes: int
    expected: int
    frames: int
    freezes: int
    layer_switches: int


@dataclass
class Tally:
    join_ms: list[float] = field(default_factory=list)  # participants that joined
    delay_bins: dict[int, int] = field(default_factory=dict)  # bin index -> packets
    streams: list[StreamCount] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sent_pkts: int = 0
    keyframe_requests: int = 0
    nacks: int = 0
    window_s: float = 0.0
    cpu_s: float = 0.0
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        streams = [StreamCount(**s) for s in data.get("streams", [])]
        bins = {int(index): n for index, n in data.get("delay_bins", {}).items()}
        return cls(**{**data, "streams": streams, "delay_bins": bins})


def delay_percentile(bins: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of binned delays, in ms: the upper edge of the bin
    that holds it (so never below the true value); None for no values."""
    total = sum(bins.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(q / 100 * total)), 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= rank:
            break
    return (index + 1) * DELAY_BIN_NS / 1e6


def merge(parts: Sequence[Tally]) -> Tally:
    """One tally for all workers: lists joined, counts and CPU summed, the shortest window."""
    total = Tally(window_s=min((p.window_s for p in parts), default=0.0))
    for part in parts:
        total.join_ms.extend(part.join_ms)
        for index, n in part.delay_bins.items():
            total.delay_bins[index] = total.delay_bins.get(index, 0) + n
        total.streams.extend(part.streams)
        total.failures.extend(part.failures)
        total.sent_pkts += part.sent_pkts
        total.keyframe_requests += part.keyframe_requests
        total.nacks += part.nacks
        total.cpu_s += part.cpu_s
    return total


def summarize(result: StepResult, tally: Tally) -> None:
    """Fill ``result``'s participant-side figures (``result.window_s`` already set)."""
    result.joined = len(tally.join_ms)
    result.join_ms_p50 = percentile(tally.join_ms, 50)
    result.join_ms_p95 = percentile(tally.join_ms, 95)
    result.sent_pkts = tally.sent_pkts
    result.keyframe_requests, result.nacks = tally.keyframe_requests, tally.nacks
    by_height: dict[int, list[float]] = {}
    for stream in tally.streams:
        result.streams_received += 1
        result.received_pkts += stream.packets
        result.received_bytes += stream.bytes
        result.expected_pkts += stream.expected
        result.frames += stream.frames
        result.freezes += stream.freezes
        result.layer_switches += stream.layer_switches
        if stream.kind == "video" and result.window_s:
            kbps = stream.bytes * 8 / result.window_s / 1000
            by_height.setdefault(stream.height, []).append(kbps)
    result.delay_ms_p50 = delay_percentile(tally.delay_bins, 50)
    result.delay_ms_p95 = delay_percentile(tally.delay_bins, 95)
    result.delay_ms_p99 = delay_percentile(tally.delay_bins, 99)
    result.subscriber_kbps = {
        f"{height}p": round(sum(v) / len(v), 1) for height, v in sorted(by_height.items())
    }
