"""Raw counts of one measurement window for a group of participants, as plain JSON, so worker
processes can hand theirs to the parent, which merges them. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from load_tests.results import StepResult, percentile


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
    delays_ms: list[float] = field(default_factory=list)
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
        return cls(**{**data, "streams": streams})


def merge(parts: Sequence[Tally]) -> Tally:
    """One tally for all workers: lists joined, counts and CPU summed, the shortest window."""
    total = Tally(window_s=min((p.window_s for p in parts), default=0.0))
    for part in parts:
        total.join_ms.extend(part.join_ms)
        total.delays_ms.extend(part.delays_ms)
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
    result.delay_ms_p50 = percentile(tally.delays_ms, 50)
    result.delay_ms_p95 = percentile(tally.delays_ms, 95)
    result.delay_ms_p99 = percentile(tally.delays_ms, 99)
    result.subscriber_kbps = {
        f"{height}p": round(sum(v) / len(v), 1) for height, v in sorted(by_height.items())
    }
