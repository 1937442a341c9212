"""``python -m load_tests worker``: one share of a scenario's participants on this process's own
event loop, for a parent run with ``--workers N`` (``load_tests.spread``).

JSON lines, each step bounded in time: the parent writes the job on stdin; the worker joins its
share and answers ``{"joined": n, "target": ...}`` (what it learned about the target); the
parent writes ``{"start": t, "duration": d}`` (``t`` a ``time.monotonic()`` instant, one clock
for every process on the machine); the worker measures from ``t`` to ``t + d`` (or until
SIGINT/SIGTERM) and answers ``{"tally": ...}`` (``Tally``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from load_tests import seam
from load_tests.clip import load_clip
from load_tests.ours import OurSfu
from load_tests.participant import Participant
from load_tests.receiving import ReceivePath
from load_tests.runner import Seat, count, join_all, leave, sent
from load_tests.scenario import Scenario
from load_tests.server import self_cpu_s

JOB_TIMEOUT_S = 30.0
START_TIMEOUT_S = 300.0  # the other workers joining, then the warm-up
LINE_LIMIT = 2**28


async def next_message(
    reader: asyncio.StreamReader, stop: asyncio.Event, timeout_s: float
) -> dict[str, Any] | None:
    """The next JSON line; None at end of input, on timeout or once ``stop`` is set."""
    line = asyncio.ensure_future(reader.readline())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({line, stopped}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not line.done():
        line.cancel()
        return None
    text = line.result()
    if not text:
        return None
    message: dict[str, Any] = json.loads(text)
    return message


def target_from(data: dict[str, Any]) -> OurSfu:
    """The target a parent described with ``OurSfu.remote()``."""
    if data.get("kind") != "ours":
        raise ValueError(f"workers cannot drive target {data.get('kind')!r}")
    return OurSfu(
        data["api_url"],
        data["key_id"],
        data["secret"],
        metrics_url=data.get("metrics_url"),
        dynacast=data.get("dynacast", True),
    )


def _emit(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


async def _wait_until(instant: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, instant - time.monotonic()))


async def serve(reader: asyncio.StreamReader, out: TextIO, stop: asyncio.Event) -> None:
    job = await next_message(reader, stop, JOB_TIMEOUT_S)
    if job is None:
        return
    scenario = Scenario.model_validate(job["scenario"])
    share: list[Seat] = [(bool(p), str(r), str(i)) for p, r, i in job["seats"]]
    clip = await asyncio.to_thread(load_clip, Path(job["cache_dir"]))
    target = target_from(job["target"])
    seam.configure(target.ice_host)
    people: list[Participant] = []
    failures: list[str] = []
    window: dict[str, Any] = {"pid": os.getpid()}
    path = ReceivePath()
    try:
        people = await join_all(target, scenario, clip, share, path, stop, failures)
        _emit(out, {"joined": len(people) - len(failures), "target": target.remote()})
        go = await next_message(reader, stop, START_TIMEOUT_S)
        if go is not None:
            start, duration = float(go["start"]), float(go["duration"])
            await _wait_until(start, stop)
            for person in people:
                person.start_window()
            cpu0, sent0, began = self_cpu_s(), sent(people), time.monotonic()
            await _wait_until(start + duration, stop)
            window.update(
                window_s=time.monotonic() - began,
                cpu_s=self_cpu_s() - cpu0,
                sent_pkts=sent(people) - sent0,
            )
        _emit(out, {"tally": count(people, path, failures, **window).to_json()})
    finally:
        await leave(people)
        path.close()
        await target.close()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await serve(reader, sys.stdout, stop)


def main() -> int:
    asyncio.run(_main())
    return 0
