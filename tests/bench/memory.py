"""Node memory per subscribe-only participant: `python -m tests.bench.memory`.

A webinar on the one-process stack (``tests.bench.memnode``: ``python -m standalone`` that
reports on demand): one load-tool publisher (VP8 q/h/f simulcast + Opus, replayed, never
encoded here), ``--warmup`` seconds for the layers' packet stores to fill, then ``--base``
viewers, a reading, ``--added`` viewers more, another reading.
A viewer is a load-tool participant: one subscribe peer connection carrying one audio and one
video subscription, publishing nothing, counting packets without decoding. Per participant =
(second reading - first) / added, so start-up and the publisher cancel out.

Two runs: RSS without tracing, then (``--trace``, the default) the same with tracemalloc in the
node, whose snapshot difference is shown by line (and by file). tracemalloc sees what Python's
allocators hand out; RSS also holds OpenSSL's and other C allocations. Run inside the
loopback-only namespace, like every WebRTC figure; not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from load_tests import seam
from load_tests.__main__ import DEFAULT_CACHE
from load_tests.clip import Clip, load_clip
from load_tests.ours import OurParticipant, OurSfu
from load_tests.participant import Participant
from load_tests.process import stop, wait_answering
from load_tests.receiving import ReceivePath
from load_tests.scenario import LAYERS, Scenario
from tests.support.ports import free_port

ROOM = "memory"
JOINS_AT_ONCE = 4
WARMUP_S = 30.0  # after the publisher joined: every layer's packet store full (q: ~20 packets/s)
SETTLE_S = 8.0  # after the last join: handshakes done, histories full at the h layer's rate
READING_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Reading:
    rss_bytes: int
    snapshot: tracemalloc.Snapshot | None


@dataclass(frozen=True, slots=True)
class Run:
    before: Reading
    after: Reading
    added: int

    @property
    def rss_per_participant(self) -> float:
        return (self.after.rss_bytes - self.before.rss_bytes) / self.added


class Node:
    """The node process (``tests.bench.memnode``) and its readings."""

    def __init__(self, workdir: Path, *, trace: bool) -> None:
        self.port, self.secret = free_port(), secrets.token_hex(20)
        self.out = workdir / ("traced" if trace else "plain")
        env = {
            **os.environ,
            "SFU_API_KEYS": f"load:{self.secret}",
            "SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
            "SFU_LOG_LEVEL": "WARNING",
            "SFU_NODE_CAPACITY": "100000",
        }
        command = [sys.executable, "-m", "tests.bench.memnode", "--port", str(self.port)]
        command += ["--out", str(self.out)] + (["--trace"] if trace else [])
        self.log = workdir / f"{self.out.name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    async def reading(self, name: str) -> Reading:
        rss, snapshot = self.out.with_suffix(".rss"), self.out.with_suffix(".snapshot")
        for path in (rss, snapshot):
            path.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        async with asyncio.timeout(READING_TIMEOUT_S):
            while not rss.exists():
                await asyncio.sleep(0.1)
        loaded = None
        if snapshot.exists():
            snapshot = snapshot.rename(snapshot.with_stem(f"{self.out.stem}-{name}"))
            loaded = tracemalloc.Snapshot.load(str(snapshot)).filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),)
            )
        return Reading(int(rss.read_text()), loaded)


async def join(people: list[Participant]) -> None:
    """Join ``people``, a few at a time; every one must join and receive both tracks."""
    for start in range(0, len(people), JOINS_AT_ONCE):
        await asyncio.gather(*(p.join() for p in people[start : start + JOINS_AT_ONCE]))
    async with asyncio.timeout(30):
        while not all(len(p.receiver.window()) == 2 for p in people if not p.publishes):
            await asyncio.sleep(0.2)


async def run(workdir: Path, clip: Clip, args: argparse.Namespace, *, trace: bool) -> Run:
    node = Node(workdir, trace=trace)
    sfu = OurSfu(node.url, "load", node.secret, pid=node.proc.pid)
    scenario = Scenario(name=ROOM, publishers=1, viewers=args.base + args.added, layer=args.layer)
    people: list[Participant] = []
    path = ReceivePath()

    def participants(count: int, *, publish: bool) -> list[Participant]:
        new = [
            OurParticipant(sfu, ROOM, f"p{len(people) + i}", scenario, clip, path, publish=publish)
            for i in range(count)
        ]
        people.extend(new)
        return new

    try:
        await wait_answering(f"{node.url}/healthz", node.proc, node.log, timeout_s=30)
        await sfu.prepare(scenario, [ROOM])
        await join(participants(1, publish=True))
        await asyncio.sleep(args.warmup)
        await join(participants(args.base, publish=False))
        await asyncio.sleep(args.settle)
        before = await node.reading("before")
        await join(participants(args.added, publish=False))
        await asyncio.sleep(args.settle)
        after = await node.reading("after")
        return Run(before, after, args.added)
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await sfu.close()
        path.close()
        stop(node.proc)


def report(plain: Run | None, traced: Run | None, top: int) -> None:
    kb = 1024
    if plain is not None:
        before, after = plain.before.rss_bytes / kb**2, plain.after.rss_bytes / kb**2
        print(f"RSS: {before:.1f} MB -> {after:.1f} MB")
        print(f"RSS per added participant: {plain.rss_per_participant / kb:.1f} KB")
    if traced is None or traced.before.snapshot is None or traced.after.snapshot is None:
        return
    print(f"(traced run: RSS per added participant {traced.rss_per_participant / kb:.1f} KB)")
    for key, shown in (("filename", 15), ("lineno", top)):
        stats = traced.after.snapshot.compare_to(traced.before.snapshot, key)
        total = sum(s.size_diff for s in stats) / traced.added
        print(f"\ntracemalloc per added participant, by {key}: {total / kb:.1f} KB in all")
        for stat in stats[:shown]:
            frame = stat.traceback[0]
            where = frame.filename if key == "filename" else f"{frame.filename}:{frame.lineno}"
            for prefix in (sys.prefix + "/lib/", os.getcwd() + "/"):
                where = where.replace(prefix, "")
            size = stat.size_diff / traced.added
            count = stat.count_diff / traced.added
            print(f"  {size / kb:8.2f} KB  {count:7.1f} blocks  {where}")


async def measure(args: argparse.Namespace) -> None:
    seam.configure("127.0.0.1")
    clip = await asyncio.to_thread(load_clip, args.cache_dir)
    with tempfile.TemporaryDirectory(prefix="sfu-memory-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        plain = await run(workdir, clip, args, trace=False) if args.rss else None
        traced = await run(workdir, clip, args, trace=True) if args.trace else None
    print(
        f"webinar: 1 publisher, {args.base} viewers, then {args.added} more (layer "
        f"{args.layer}); {time.monotonic() - started:.0f} s\n"
    )
    report(plain, traced, args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=10, help="viewers before the first reading")
    parser.add_argument("--added", type=int, default=40, help="viewers between the readings")
    parser.add_argument("--layer", choices=LAYERS, default="h", help="layer viewers ask for")
    parser.add_argument("--warmup", type=float, default=WARMUP_S, help="seconds after publishing")
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="seconds before a reading")
    parser.add_argument("--top", type=int, default=25, help="lines shown")
    parser.add_argument("--no-trace", dest="trace", action="store_false", help="RSS only")
    parser.add_argument("--no-rss", dest="rss", action="store_false", help="traced run only")
    parser.add_argument("--keep", type=Path, help="keep the readings (snapshots) in this directory")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="encoded clip")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
