"""The node side of `python -m tests.bench.memory`: ``python -m standalone`` with a reading on
demand. On SIGUSR1 it collects garbage and writes its RSS (and, when started with
``--trace``, a tracemalloc snapshot) under the given path; the driver signals, then waits for
the file. Imports only what the node imports (no PyAV), like the real process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import tracemalloc
from pathlib import Path

import uvloop

from serving.logs import configure_logging
from standalone.launcher import serve

TRACE_FRAMES = 12


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def reading(out: Path) -> None:
    """``out``.rss (and ``out``.snapshot when tracing), the .rss written last."""
    gc.collect()
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(out.with_suffix(".snapshot")))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(str(rss_bytes()))
    tmp.rename(out.with_suffix(".rss"))


async def serve_with_readings(host: str, port: int, out: Path) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, reading, out)
    await serve(host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="readings go to OUT.rss/.snapshot")
    parser.add_argument("--trace", action="store_true", help="trace allocations (slower)")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(TRACE_FRAMES)
    configure_logging()
    uvloop.run(serve_with_readings(args.host, args.port, args.out))


if __name__ == "__main__":
    main()
