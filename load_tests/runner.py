"""One measurement: join everyone, warm up, measure a window, leave. Every wait is bounded, and
setting ``stop`` (Ctrl-C) ends the window early with what was measured so far."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from load_tests.clip import Clip
from load_tests.participant import Participant
from load_tests.receiving import ReceivePath
from load_tests.results import StepResult
from load_tests.scenario import Scenario
from load_tests.server import ProcSample, self_cpu_s
from load_tests.tally import Tally, delay_percentile, summarize

JOIN_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 15.0
TICK_S = 1.0

Progress = Callable[[dict[str, Any]], None]


class Target(Protocol):
    name: str
    ice_host: str

    async def prepare(self, scenario: Scenario, rooms: list[str]) -> None: ...

    def participant(
        self,
        room: str,
        identity: str,
        scenario: Scenario,
        clip: Clip,
        path: ReceivePath,
        *,
        publish: bool,
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


def _received(people: Sequence[Participant]) -> int:
    return sum(s.packets for p in people for s in p.receiver.window())


Seat = tuple[bool, str, str]  # publishes, room, identity


def seats(scenario: Scenario, rooms: Sequence[str]) -> list[Seat]:
    """Everyone of a scenario in join order: the publishers of every room, then the viewers."""
    return [
        (publish, room, f"{'pub' if publish else 'view'}-{n}")
        for publish, count in ((True, scenario.publishers), (False, scenario.viewers))
        for room in rooms
        for n in range(count)
    ]


def new_result(target: Target, scenario: Scenario) -> StepResult:
    return StepResult(
        target=target.name,
        scenario=scenario.name,
        participants=scenario.participants,
        publishers=scenario.rooms * scenario.publishers,
        subscribers=scenario.rooms
        * (scenario.viewers + (scenario.publishers if scenario.publishers > 1 else 0)),
        expected_streams=scenario.subscriptions,
        window_s=0.0,
        video_subscriptions=scenario.video_subscriptions,
    )


async def join_all(
    target: Target,
    scenario: Scenario,
    clip: Clip,
    who: Sequence[Seat],
    path: ReceivePath,
    stop: asyncio.Event,
    failures: list[str],
    progress: Progress = lambda _: None,
) -> list[Participant]:
    """Join ``who`` (publishers first, each join bounded); failures are collected, not raised."""
    people: list[Participant] = []
    for publishing in (True, False):
        joins = []
        for publish, room, identity in who:
            if publish != publishing or stop.is_set():
                continue
            person = target.participant(room, identity, scenario, clip, path, publish=publish)
            people.append(person)
            joins.append(asyncio.create_task(_join(person, failures)))
            progress({"phase": "joining", "joined": len(people)})
            await asyncio.sleep(scenario.join_interval_s)
        await asyncio.gather(*joins)
        if publishing:  # publishers first: Janus subscribers name the feeds they want
            await asyncio.gather(*(_join(p, failures, later=True) for p in people))
    return people


def sent(people: Sequence[Participant]) -> int:
    return sum(p.source.packets_sent for p in people if p.source)


def count(
    people: Sequence[Participant], path: ReceivePath, failures: list[str], **window: Any
) -> Tally:
    """The window's raw counts of ``people`` (``window``: sent_pkts, window_s, cpu_s, pid)."""
    tally = Tally(failures=list(failures), delay_bins=path.delays.nonzero(), **window)
    tally.join_ms = [p.join_ms for p in people if p.join_ms is not None]
    for person in people:
        tally.streams.extend(person.receiver.window())
        if person.source is not None:
            tally.keyframe_requests += (
                person.source.keyframe_requests - person.base_keyframe_requests
            )
            tally.nacks += person.source.nacks - person.base_nacks
    return tally


async def leave(people: Sequence[Participant]) -> None:
    for person in people:
        person.receiver.stop()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await asyncio.gather(*(p.close() for p in people), return_exceptions=True)


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
    result = new_result(target, scenario)
    people: list[Participant] = []
    failures: list[str] = []
    path = ReceivePath()
    try:
        people = await join_all(
            target, scenario, clip, seats(scenario, rooms), path, stop, failures, progress
        )
        result.join_failures = len(failures)
        result.notes.extend(failures[:5])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), scenario.warmup_s)
        # the scrape before the window: the node's CPU for answering the tool is not forwarding
        counters0 = await target.counters()
        for person in people:
            person.start_window()
        proc0, gen0 = target.proc(), self_cpu_s()
        sent0 = sent(people)
        started = time.monotonic()
        deadline = started + scenario.duration_s
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(TICK_S, deadline - time.monotonic()))
            elapsed = time.monotonic() - started
            packets = _received(people)
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
                    "delay_p99": delay_percentile(path.delays.nonzero(), 99),
                }
            )
        result.window_s = time.monotonic() - started
        result.complete = not stop.is_set() and result.window_s >= scenario.duration_s * 0.99
        proc1, counters1 = target.proc(), await target.counters()
        cpu_s = self_cpu_s() - gen0
        server_window(result, (proc0, proc1), (counters0, counters1))
        summarize(
            result,
            count(
                people,
                path,
                failures,
                sent_pkts=sent(people) - sent0,
                cpu_s=cpu_s,
                pid=os.getpid(),
            ),
        )
        result.generator_cpu_s = cpu_s
    finally:
        progress({"phase": "leaving"})
        await leave(people)
        path.close()
        with contextlib.suppress(Exception):
            await target.end_rooms(rooms)
    return result


def server_window(
    result: StepResult,
    procs: tuple[ProcSample | None, ProcSample | None],
    counters: tuple[dict[str, float], dict[str, float]],
) -> None:
    """The server's CPU, RSS and packet counters over the window, when it has them."""
    (proc0, proc1), (counters0, counters1) = procs, counters
    if proc0 and proc1:
        result.server_cpu_s = proc1.cpu_s - proc0.cpu_s
        result.server_rss_mb = proc1.rss_bytes / 2**20
    if counters0 and counters1:
        result.server_pkts_out = counters1["packets_out"] - counters0["packets_out"]
        result.server_pkts_in = counters1["packets_in"] - counters0["packets_in"]
