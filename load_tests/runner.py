"""One measurement: join everyone, warm up, measure a window, leave. Every wait is bounded, and
setting ``stop`` (Ctrl-C) ends the window early with what was measured so far."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from load_tests.clip import Clip
from load_tests.participant import Participant
from load_tests.results import StepResult, percentile
from load_tests.scenario import Scenario
from load_tests.server import ProcSample, self_cpu_s

JOIN_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 15.0
TICK_S = 1.0

Progress = Callable[[dict[str, Any]], None]


class Target(Protocol):
    name: str
    ice_host: str

    async def prepare(self, scenario: Scenario, rooms: list[str]) -> None: ...

    def participant(
        self, room: str, identity: str, scenario: Scenario, clip: Clip, *, publish: bool
    ) -> Participant: ...

    async def end_rooms(self, rooms: list[str]) -> None: ...

    def proc(self) -> ProcSample | None: ...

    async def counters(self) -> dict[str, float]: ...


async def _join(participant: Participant, failures: list[str], *, later: bool = False) -> None:
    if not later:
        participant.started_ns = time.monotonic_ns()
    try:
        async with asyncio.timeout(JOIN_TIMEOUT_S):
            await (participant.after_publishers() if later else participant.join())
    except Exception as exc:  # any failure is a finding, not a crash of the tool
        failures.append(f"{participant.identity}: {type(exc).__name__}: {exc}")


def _totals(people: Sequence[Participant]) -> tuple[int, int, int]:
    packets = sum(s.packets - s.base_packets for p in people for s in p.receiver.streams.values())
    return packets, sum(p.source.packets_sent for p in people if p.source), len(people)


async def measure(
    target: Target,
    scenario: Scenario,
    clip: Clip,
    stop: asyncio.Event,
    progress: Progress = lambda _: None,
    run_id: str = "",
) -> StepResult:
    rooms = [f"load-{run_id}{scenario.name}-{n}" for n in range(scenario.rooms)]
    await target.prepare(scenario, rooms)
    result = StepResult(
        target=target.name,
        scenario=scenario.name,
        participants=scenario.participants,
        publishers=scenario.rooms * scenario.publishers,
        subscribers=scenario.rooms
        * (scenario.viewers + (scenario.publishers if scenario.publishers > 1 else 0)),
        expected_streams=scenario.subscriptions,
        window_s=0.0,
    )
    people: list[Participant] = []
    failures: list[str] = []
    try:
        joins = []
        for publish, count in ((True, scenario.publishers), (False, scenario.viewers)):
            for room in rooms:
                for n in range(count):
                    if stop.is_set():
                        break
                    who = f"{'pub' if publish else 'view'}-{n}"
                    person = target.participant(room, who, scenario, clip, publish=publish)
                    people.append(person)
                    joins.append(asyncio.create_task(_join(person, failures)))
                    progress({"phase": "joining", "joined": len(people)})
                    await asyncio.sleep(scenario.join_interval_s)
            if publish:  # publishers first: Janus subscribers name the feeds they want
                await asyncio.gather(*joins)
                await asyncio.gather(*(_join(p, failures, later=True) for p in people))
        await asyncio.gather(*joins)
        result.join_failures = len(failures)
        result.notes.extend(failures[:5])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), scenario.warmup_s)
        for person in people:
            person.receiver.start_window()
        proc0, counters0, gen0 = target.proc(), await target.counters(), self_cpu_s()
        sent0 = sum(p.source.packets_sent for p in people if p.source)
        started = time.monotonic()
        deadline = started + scenario.duration_s
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(TICK_S, deadline - time.monotonic()))
            elapsed = time.monotonic() - started
            packets, _, _ = _totals(people)
            proc = target.proc()
            progress(
                {
                    "phase": "measuring",
                    "elapsed": elapsed,
                    "duration": scenario.duration_s,
                    "pps": packets / elapsed if elapsed else 0.0,
                    "cpu_pct": 100 * (proc.cpu_s - proc0.cpu_s) / elapsed
                    if proc and proc0 and elapsed
                    else None,
                    "delay_p99": percentile(
                        [d for p in people for d in p.receiver.delays_ms[-200:]], 99
                    ),
                }
            )
        result.window_s = time.monotonic() - started
        result.complete = not stop.is_set() and result.window_s >= scenario.duration_s * 0.99
        proc1, counters1 = target.proc(), await target.counters()
        result.generator_cpu_s = self_cpu_s() - gen0
        result.sent_pkts = sum(p.source.packets_sent for p in people if p.source) - sent0
        if proc0 and proc1:
            result.server_cpu_s = proc1.cpu_s - proc0.cpu_s
            result.server_rss_mb = proc1.rss_bytes / 2**20
        if counters0 and counters1:
            result.server_pkts_out = counters1["packets_out"] - counters0["packets_out"]
            result.server_pkts_in = counters1["packets_in"] - counters0["packets_in"]
        _summarize(result, people)
    finally:
        for person in people:
            person.receiver.recording = False
        progress({"phase": "leaving"})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        with contextlib.suppress(Exception):
            await target.end_rooms(rooms)
    return result


def _summarize(result: StepResult, people: Sequence[Participant]) -> None:
    joins = [p.join_ms for p in people if p.join_ms is not None]
    result.joined = len(joins)
    result.join_ms_p50, result.join_ms_p95 = percentile(joins, 50), percentile(joins, 95)
    delays: list[float] = []
    by_height: dict[int, list[float]] = {}
    for person in people:
        delays.extend(person.receiver.delays_ms)
        for stream in person.receiver.streams.values():
            result.streams_received += 1
            result.received_pkts += stream.packets - stream.base_packets
            result.received_bytes += stream.bytes - stream.base_bytes
            result.expected_pkts += stream.expected - stream.base_expected
            result.frames += stream.frames - stream.base_frames
            result.freezes += stream.freezes
            result.layer_switches += stream.layer_switches
            if stream.kind == "video" and result.window_s:
                kbps = (stream.bytes - stream.base_bytes) * 8 / result.window_s / 1000
                by_height.setdefault(stream.height, []).append(kbps)
        if person.source is not None:
            result.keyframe_requests += person.source.keyframe_requests
            result.nacks += person.source.nacks
    result.delay_ms_p50 = percentile(delays, 50)
    result.delay_ms_p95 = percentile(delays, 95)
    result.delay_ms_p99 = percentile(delays, 99)
    result.subscriber_kbps = {
        f"{height}p": round(sum(v) / len(v), 1) for height, v in sorted(by_height.items())
    }
