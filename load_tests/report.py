"""What a run leaves behind: a JSON file, a markdown table, the ours/Janus ratio table and a PNG
plot (load vs server CPU, delay and loss)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load_tests.results import StepResult, Thresholds, failures


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(results: Sequence[StepResult]) -> str:
    head = (
        "| SFU | scenario | participants | fwd pkt/s | Mbit/s | loss | delay p50/p95/p99 ms "
        "| freezes | join p50 ms | server CPU % | RSS MB | **CPU µs/fwd pkt** | PLI | gen CPU % |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = [
        f"| {r.target} | {r.scenario} | {r.participants} | {r.forwarded_pps:,.0f} "
        f"| {r.forwarded_mbps:.1f} | {r.loss:.2%} | {_fmt(r.delay_ms_p50)}/{_fmt(r.delay_ms_p95)}/"
        f"{_fmt(r.delay_ms_p99)} | {r.freezes} | {_fmt(r.join_ms_p50, 0)} "
        f"| {_fmt(r.server_cpu_pct)} | {_fmt(r.server_rss_mb, 0)} "
        f"| **{_fmt(r.cpu_us_per_pkt)}** | {r.keyframe_requests} "
        f"| {r.generator_cpu_pct:.0f} |"
        for r in results
    ]
    return head + "\n".join(rows) + "\n"


def ratio_table(
    ours: Sequence[StepResult],
    janus: Sequence[StepResult],
    references: Mapping[str, Sequence[StepResult]] | None = None,
    max_sizes: dict[str, int | None] | None = None,
) -> str:
    """ours/Janus per scenario: CPU per forwarded packet and p99 delay (lower is better), with
    variants of our node beside it (``references``: a column each, by its heading), and the
    largest meeting each sustained within the thresholds (higher is better). A scenario
    measured more than once shows the median of its runs, then their range: at a few % of a
    core, one 20 s window varies by 10-25 %."""
    references = references or {}
    headings = "".join(f" | {heading}" for heading in references)
    lines = [
        f"| scenario | CPU µs/fwd pkt ours{headings} | Janus | ratio "
        "| p99 delay ms ours | Janus | ratio |",
        "|---|---|" + "---|" * len(references) + "---|---|---|---|---|",
    ]
    mine, theirs = _by_scenario(ours), _by_scenario(janus)
    variants = [_by_scenario(results) for results in references.values()]
    for scenario, runs in mine.items():
        other = theirs.get(scenario)
        if other is None:
            continue
        cpu, their_cpu = _median(runs, "cpu_us_per_pkt"), _median(other, "cpu_us_per_pkt")
        p99, their_p99 = _median(runs, "delay_ms_p99"), _median(other, "delay_ms_p99")
        beside = "".join(
            f"| {_spread(variant.get(scenario, []), 'cpu_us_per_pkt')} " for variant in variants
        )
        lines.append(
            f"| {scenario} | {_spread(runs, 'cpu_us_per_pkt')} {beside}"
            f"| {_spread(other, 'cpu_us_per_pkt')} | {_ratio(cpu, their_cpu)} "
            f"| {_spread(runs, 'delay_ms_p99')} | {_spread(other, 'delay_ms_p99')} "
            f"| {_ratio(p99, their_p99)} |"
        )
    if max_sizes is not None:
        a, b = max_sizes.get("ours"), max_sizes.get("janus")
        ratio = _ratio(a, b) if a and b else "-"
        lines.append(
            f"| max meeting at thresholds | {_size(a)} |{' |' * len(references)} {_size(b)} "
            f"| {ratio} | | | |"
        )
    return "\n".join(lines) + "\n"


def _by_scenario(results: Sequence[StepResult]) -> dict[str, list[StepResult]]:
    grouped: dict[str, list[StepResult]] = {}
    for result in results:
        grouped.setdefault(result.scenario, []).append(result)
    return grouped


def _median(results: Sequence[StepResult], field: str) -> float | None:
    values = [v for r in results if (v := getattr(r, field)) is not None]
    return statistics.median(values) if values else None


def _spread(results: Sequence[StepResult], field: str) -> str:
    """The median, and with more than one run their range: ``17.2 (16.1-18.3)``."""
    values = [v for r in results if (v := getattr(r, field)) is not None]
    if len(values) < 2:
        return _fmt(_median(results, field))
    return f"{_fmt(statistics.median(values))} ({_fmt(min(values))}-{_fmt(max(values))})"


@dataclass(frozen=True, slots=True)
class Limit:
    """Where one SFU crossed the thresholds on a ramp: its last step within them, its first
    beyond (None: the ramp ended first), and the node's RSS before any load."""

    good: StepResult | None
    beyond: StepResult | None
    idle_rss_mb: float | None

    @property
    def rss_kb_per_video_subscription(self) -> float | None:
        """(RSS at the ramp's largest step - RSS before any load) / its video subscriptions."""
        largest = self.beyond or self.good
        if largest is None or largest.server_rss_mb is None or self.idle_rss_mb is None:
            return None
        if not largest.video_subscriptions:
            return None
        return (largest.server_rss_mb - self.idle_rss_mb) * 1024 / largest.video_subscriptions


def limit_table(limits: Mapping[str, Limit], thresholds: Thresholds) -> str:
    """Per SFU: the last step within the thresholds and the first beyond (forwarded packets/s,
    the node process's CPU, the generator's CPU beside it), and RSS per video subscription."""
    step = "step | fwd pkt/s | node CPU % | CPU µs/fwd pkt | p99 ms | gen CPU % (µs/fwd pkt)"
    lines = [
        f"| SFU | last {step} | first beyond: {step} | beyond because "
        "| RSS KB/video subscription |",
        "|---" * 15 + "|",
    ]
    for name, limit in limits.items():
        why = failures(limit.beyond, thresholds) if limit.beyond else ["ramp ended within"]
        cells = [
            name,
            *_step_cells(limit.good),
            *_step_cells(limit.beyond),
            ", ".join(why),
            _fmt(limit.rss_kb_per_video_subscription, 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _step_cells(step: StepResult | None) -> list[str]:
    if step is None:
        return ["-"] * 6
    return [
        step.scenario,
        f"{step.forwarded_pps:,.0f}",
        _fmt(step.server_cpu_pct),
        _fmt(step.cpu_us_per_pkt),
        _fmt(step.delay_ms_p99),
        f"{step.generator_cpu_pct:.0f} ({_fmt(step.generator_us_per_pkt, 2)})",
    ]


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n}x{n}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def plot(path: Path, series: Mapping[str, Sequence[StepResult]]) -> None:
    """Server CPU %, p99 delay and loss against forwarded packets/s, one line per SFU."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels: tuple[tuple[str, Callable[[StepResult], float | None]], ...] = (
        ("server CPU % (one core = 100)", lambda r: r.server_cpu_pct),
        ("p99 delay (ms)", lambda r: r.delay_ms_p99),
        ("loss (%)", lambda r: 100 * r.loss),
    )
    for axis, (label, value) in zip(axes, panels, strict=True):
        for name, results in series.items():
            points = sorted((r.forwarded_pps, value(r)) for r in results if value(r) is not None)
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=name)
        axis.set_xlabel("forwarded packets/s")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
