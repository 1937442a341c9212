"""``--workers N``: a scenario's participants split over N worker processes (``python -m
load_tests worker``), so the generator is not the bottleneck. Whole participants are assigned
(room membership is by room name, so it does not matter which process one lives in); the parent
prepares the rooms, waits until every worker has joined its share, warms up, then gives all of
them one common window and merges their raw counts into the usual ``StepResult``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from load_tests.clip import Clip
from load_tests.results import StepResult
from load_tests.runner import (
    CLOSE_TIMEOUT_S,
    JOIN_TIMEOUT_S,
    TICK_S,
    Progress,
    Target,
    measure,
    new_result,
    seats,
    server_window,
)
from load_tests.scenario import Scenario
from load_tests.tally import Tally, merge, summarize
from load_tests.worker import LINE_LIMIT

SPAWN_S = 30.0  # a worker starting Python and loading the cached clip
START_LEAD_S = 0.5  # the common start is this far ahead, so every worker hears of it in time
RESULT_TIMEOUT_S = 30.0

T = TypeVar("T")


@runtime_checkable
class Remote(Protocol):
    """A target a worker process can rebuild from a JSON description."""

    def remote(self) -> dict[str, Any]: ...

    def adopt(self, remote: dict[str, Any]) -> None: ...


def split(items: Sequence[T], workers: int) -> list[list[T]]:
    """Round-robin, so every worker gets publishers and viewers; empty shares are dropped."""
    return [share for n in range(workers) if (share := list(items[n::workers]))]


async def _spawn(job: dict[str, Any]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "load_tests",
        "worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=LINE_LIMIT,
    )
    await _send(proc, job)
    return proc


async def _send(proc: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(ConnectionError):
        proc.stdin.write((json.dumps(message) + "\n").encode())
        await proc.stdin.drain()


async def _receive(proc: asyncio.subprocess.Process, timeout_s: float) -> dict[str, Any]:
    """The worker's next JSON line; {} at end of output or on timeout."""
    assert proc.stdout is not None
    with contextlib.suppress(TimeoutError, ValueError):
        line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
        if line:
            message: dict[str, Any] = json.loads(line)
            return message
    return {}


async def _tally(proc: asyncio.subprocess.Process, timeout_s: float) -> Tally | None:
    """Skip to the worker's ``tally`` line (it may come early after a Ctrl-C)."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        message = await _receive(proc, left)
        if not message:
            return None
        if "tally" in message:
            return Tally.from_json(message["tally"])
    return None


async def _interrupt_on(stop: asyncio.Event, procs: Sequence[asyncio.subprocess.Process]) -> None:
    """Ctrl-C (or SIGTERM) of the parent: each worker ends its window and reports."""
    await stop.wait()
    for proc in procs:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT_S + 5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def measure_spread(
    target: Target,
    scenario: Scenario,
    clip: Clip,
    cache_dir: Path,
    stop: asyncio.Event,
    progress: Progress = lambda _: None,
    run_id: str = "",
    *,
    workers: int,
) -> StepResult:
    if workers <= 1 or not isinstance(target, Remote):
        result = await measure(target, scenario, clip, stop, progress, run_id)
        if workers > 1:
            result.notes.append(f"{target.name}: one generator process (cannot be spread)")
        return result
    rooms = [f"load-{run_id}{scenario.name}-{n}" for n in range(scenario.rooms)]
    await target.prepare(scenario, rooms)
    result = new_result(target, scenario)
    shares = split(seats(scenario, rooms), workers)
    procs: list[asyncio.subprocess.Process] = []
    watcher = asyncio.create_task(_interrupt_on(stop, procs))
    job = {"target": target.remote(), "scenario": scenario.model_dump(mode="json")}
    try:
        for share in shares:
            procs.append(await _spawn({**job, "seats": share, "cache_dir": str(cache_dir)}))
        progress({"phase": "joining", "joined": f"{len(procs)} workers"})
        joining_s = SPAWN_S + JOIN_TIMEOUT_S + max(map(len, shares)) * scenario.join_interval_s
        joined = await asyncio.gather(*(_receive(p, joining_s) for p in procs))
        for message in joined:
            target.adopt(message.get("target", {}))
        progress({"phase": "warming up", "joined": sum(m.get("joined", 0) for m in joined)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), scenario.warmup_s)
        started = time.monotonic() + START_LEAD_S
        for proc in procs:
            await _send(proc, {"start": started, "duration": scenario.duration_s})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, started - time.monotonic()))
        # Scraped at the window's ends, outside the node's CPU window: its CPU for answering the
        # tool is not forwarding (the workers count the packets, so nothing is scraped live).
        counters0 = await target.counters()
        proc0 = target.proc()
        deadline = started + scenario.duration_s
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(TICK_S, deadline - time.monotonic()))
            elapsed, sample = time.monotonic() - started, target.proc()
            progress(
                {
                    "phase": "measuring",
                    "elapsed": elapsed,
                    "duration": scenario.duration_s,
                    "pps": None,
                    "cpu_pct": 100 * (sample.cpu_s - proc0.cpu_s) / elapsed
                    if sample and proc0 and elapsed > 0
                    else None,
                    "delay_p99": None,
                }
            )
        result.window_s = max(0.0, time.monotonic() - started)
        proc1, counters1 = target.proc(), await target.counters()
        server_window(result, (proc0, proc1), (counters0, counters1))
        tallies = await asyncio.gather(*(_tally(p, RESULT_TIMEOUT_S) for p in procs))
        parts = [t for t in tallies if t is not None]
        total = merge(parts)
        summarize(result, total)
        missing = [f"worker {n}: no result" for n, t in enumerate(tallies) if t is None]
        failures = missing + total.failures
        result.join_failures = len(total.failures)
        result.notes.extend(failures[:5])
        result.complete = (
            not stop.is_set() and not missing and result.window_s >= scenario.duration_s * 0.99
        )
        result.generator_cpu_s = total.cpu_s
        result.generator_cpu_max_s = max((p.cpu_s for p in parts), default=None)
        result.worker_pids = [p.pid for p in parts]
    finally:
        progress({"phase": "leaving"})
        watcher.cancel()
        await asyncio.gather(*(_end(p) for p in procs))
        with contextlib.suppress(Exception):
            await target.end_rooms(rooms)
    return result
