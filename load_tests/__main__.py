"""python -m load_tests: put load on our SFU or on Janus and measure it.

run SCENARIO        a preset name or a .toml/.json scenario file (see load_tests/scenario.py)
bench               the `make bench` set: the same scenarios against our SFU and Janus
janus               start Janus as the tool runs it, until Ctrl-C
worker              internal: one share of the participants for --workers (JSON on stdin)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rich.console import Console

from load_tests import cores, janus, ours, report, seam, worker
from load_tests.clip import Clip, load_clip
from load_tests.display import Progress
from load_tests.ramp import Step, at, between, crossing, last_good, steps, thresholds
from load_tests.results import StepResult, failures
from load_tests.runner import Target
from load_tests.scenario import PRESETS, Ramp, Scenario, ScenarioError, load_scenarios
from load_tests.spread import measure_spread

DEFAULT_CACHE = Path.home() / ".cache" / "seed-sfu-load"
BENCH_SCENARIOS = ("meeting-4x4", "webinar-1x20")
BENCH_RAMP = Ramp(field="publishers", start=4, step=2, stop=20)
# How many packets/s one node process forwards before quality drops: a panel of four publishers
# at 720p (~1.6k pkt/s to each viewer), more viewers, until the node runs out of its core (ours
# near 200k pkt/s with 120), then two bisections between the last good and the first beyond step
# (a step of 10 viewers is 8-16 % of either node's limit). Few viewers carry much: a ramp of
# 1 -> N webinars ended where joins to our busy node timed out (hundreds of them: 23 of 300 at 10
# joins/s), before forwarding did.
CAPACITY_RAMP = Ramp(field="viewers", start=10, step=10, stop=200, refine=2)
TARGETS = ("ours", "ours-remb", "ours-all-layers", "ours-single-sends", "ours-aioice", "janus")
TARGETS_HELP = (
    "ours-remb: our node without transport-cc (SFU_TRANSPORT_CC=false); ours-all-layers: our "
    "publishers send every layer, as to Janus (no dynacast); ours-single-sends: a datagram per "
    "send (no UDP segmentation, SFU_UDP_SEGMENTS=1); ours-aioice: on aiortc's ICE (a port per "
    "peer connection, SFU_UDP_PORT=0)"
)
# Settings of our node per target
TARGET_ENV = {
    "ours-remb": {"SFU_TRANSPORT_CC": "false"},
    "ours-single-sends": {"SFU_UDP_SEGMENTS": "1"},
    "ours-aioice": {"SFU_UDP_PORT": "0"},
}
# References the bench measures once, not at every repeat
ONCE = ("ours-all-layers", "ours-single-sends", "ours-aioice")
# The variants of our node the ratio table shows beside it, by their column heading
REFERENCES = {
    "ours-remb": "ours, REMB only",
    "ours-all-layers": "ours, all layers",
    "ours-single-sends": "ours, single sends",
    "ours-aioice": "ours, aioice ports",
}
WORKERS_HELP = "spread the participants over N generator processes (default 1: this one)"
PIN_HELP = (
    "run the SFU the tool starts on one CPU of its own and the generator on the others, so a "
    "ramp ends where the SFU runs out of its core (load_tests/cores.py)"
)


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} is not in 1..64")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m load_tests",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("results/load"), help="output folder")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="encoded clip cache")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one scenario set against one SFU")
    run.add_argument("scenario", help=f"a file, or one of: {', '.join(PRESETS)}")
    run.add_argument("--target", choices=TARGETS, default="ours", help=TARGETS_HELP)
    run.add_argument("--api", help="control API URL of a running deployment (default: start one)")
    run.add_argument("--key", help="API key id:secret for --api")
    run.add_argument("--server-pid", type=int, help="PID of the media node, for CPU and RSS")
    run.add_argument("--ramp", action="store_true", help="ramp each scenario (file's [ramp])")
    run.add_argument("--workers", type=_positive, default=1, help=WORKERS_HELP)
    run.add_argument("--pin", action="store_true", help=PIN_HELP)
    bench = sub.add_parser(
        "bench",
        help="meeting 4x4 and webinar 1→20 on every target; meeting and panel ramps",
    )
    bench.add_argument("--duration", type=float, default=20.0, help="window per scenario (s)")
    bench.add_argument(
        "--repeats", type=_positive, default=3, help="runs of each scenario on ours and Janus"
    )
    bench.add_argument("--no-ramp", action="store_true")
    bench.add_argument("--workers", type=_positive, default=1, help=WORKERS_HELP)
    bench.add_argument("--pin", action="store_true", help=PIN_HELP)
    sub.add_parser("janus", help="start Janus on loopback (VideoRoom + HTTP) until Ctrl-C")
    sub.add_parser("worker", help="internal: one share of the participants for --workers")
    return parser


@contextlib.asynccontextmanager
async def _target(name: str, args: argparse.Namespace, workdir: Path) -> AsyncIterator[Target]:
    cpus = getattr(args, "server_cpus", None)
    if name == "janus":
        async with janus.local_janus(workdir, cpus=cpus) as sfu:
            seam.configure(sfu.ice_host)
            yield sfu
    elif getattr(args, "api", None):
        key_id, _, secret = (args.key or ":").partition(":")
        remote = ours.OurSfu(args.api.rstrip("/"), key_id, secret, pid=args.server_pid)
        seam.configure(remote.ice_host)
        try:
            yield remote
        finally:
            await remote.close()
    else:
        async with ours.local_sfu(
            workdir,
            name=name,
            env=TARGET_ENV.get(name, {}),
            dynacast=name != "ours-all-layers",
            cpus=cpus,
        ) as sfu:
            seam.configure(sfu.ice_host)
            yield sfu


class Session:
    """Shared state of one invocation: clip, stop flag (Ctrl-C), console, results so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.console = Console(stderr=True)
        self.stop = asyncio.Event()
        self.clip: Clip | None = None
        self.results: list[StepResult] = []
        self.ramps: dict[str, Any] = {}
        self.run_id = time.strftime("%H%M%S-")

    async def step(
        self, target: Target, scenario: Scenario, workers: int | None = None
    ) -> StepResult:
        """One scenario; ``workers``: generator processes (default: ``--workers``)."""
        assert self.clip is not None
        progress = Progress(self.console)
        progress.start(f"{target.name}: {scenario.name} ({scenario.participants} participants)")
        try:
            result = await measure_spread(
                target,
                scenario,
                self.clip,
                self.args.cache_dir,
                self.stop,
                progress,
                self.run_id,
                workers=workers or int(getattr(self.args, "workers", 1)),
            )
        finally:
            progress.stop()
        self.results.append(result)
        pps, cpu = result.forwarded_pps, result.cpu_us_per_pkt
        self.console.print(
            f"{target.name} {scenario.name}: {pps:,.0f} fwd pkt/s, "
            f"{'-' if cpu is None else f'{cpu:.1f}'} µs CPU/pkt, loss {result.loss:.2%}, "
            f"p99 {result.delay_ms_p99 or 0:.1f} ms, freezes {result.freezes}"
            + (
                f"  [{', '.join(failures(result, thresholds(Ramp())))}]"
                if failures(result, thresholds(Ramp()))
                else ""
            )
        )
        return result

    async def ramp(self, target: Target, base: Scenario, ramp: Ramp) -> list[Step]:
        """The steps measured, up to the first beyond the thresholds."""
        done: list[Step] = []
        limits = thresholds(ramp)
        for scenario in steps(base, ramp):
            if self.stop.is_set():
                break
            result = await self.step(target, scenario)
            done.append((getattr(scenario, ramp.field), result))
            if failures(result, limits):
                break
        for _ in range(ramp.refine):
            value = between(done, limits)
            if value is None or self.stop.is_set():
                break
            done.append((value, await self.step(target, at(base, ramp, value))))
            done.sort(key=lambda step: step[0])
        best = last_good(done, limits)
        self.ramps[f"{target.name}:{base.name}"] = {"field": ramp.field, "last_good": best}
        return done

    def write(self, stem: str, extra_md: str = "") -> None:
        out: Path = self.args.out
        payload = {
            "interrupted": self.stop.is_set(),
            "results": [r.to_json() for r in self.results],
            "ramps": self.ramps,
        }
        report.write_json(out / f"{stem}.json", payload)
        md = report.markdown(self.results) + ("\n" + extra_md if extra_md else "")
        (out / f"{stem}.md").write_text(md)
        series: dict[str, list[StepResult]] = {}
        for result in self.results:
            series.setdefault(result.target, []).append(result)
        try:
            report.plot(out / f"{stem}.png", series)
        except ImportError:
            self.console.print("matplotlib is missing: no plot (pip install '.[load]')")
        print(md)
        self.console.print(f"wrote {out / stem}.json, .md and .png")


async def _run(session: Session) -> None:
    args = session.args
    spec = load_scenarios(args.scenario)
    workdir = args.out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        async with _target(args.target, args, workdir) as target:
            for scenario in spec.scenario:
                if session.stop.is_set():
                    break
                if args.ramp:
                    await session.ramp(target, scenario, spec.ramp or Ramp())
                else:
                    await session.step(target, scenario)
    finally:
        session.write(f"run-{args.target}")


async def _bench(session: Session) -> None:
    args = session.args
    workdir = args.out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    base = [
        PRESETS[name].model_copy(update={"duration_s": args.duration}) for name in BENCH_SCENARIOS
    ]
    ramp_base = Scenario(
        name="meeting", publishers=4, duration_s=min(args.duration, 10), warmup_s=3
    )
    capacity_base = Scenario(
        name="panel", publishers=4, layer="f", duration_s=min(args.duration, 10), warmup_s=3
    )
    by_target: dict[str, list[StepResult]] = {}
    max_sizes: dict[str, int | None] = {}
    limits: dict[str, report.Limit] = {}
    try:
        # The table takes each scenario's median: one window at a few % of a core varies by
        # 10-25 % between runs, and the VM drifts over minutes (one SFU measured a quarter of an
        # hour after the other saw its cost move by half). So the targets take turns, a fresh
        # process each, once per repeat: a drift reaches both alike. The old path is a
        # reference: measured once. One generator process for every SFU, as Janus's can only
        # be: how arrivals bunch sets the wake-ups per packet (two processes cost our node ~18 %
        # more per packet in the 4x4 meeting), and these loads are far from the generator's.
        for repeat in range(args.repeats):
            for name in TARGETS:
                if session.stop.is_set() or (name in ONCE and repeat):
                    continue
                async with _target(name, args, workdir) as target:
                    for scenario in base:
                        if not session.stop.is_set():
                            result = await session.step(target, scenario, workers=1)
                            by_target.setdefault(name, []).append(result)
        for name in ("ours", "janus"):
            if args.no_ramp or session.stop.is_set():
                break
            async with _target(name, args, workdir) as target:
                meeting = await session.ramp(target, ramp_base, BENCH_RAMP)
                max_sizes[name] = last_good(meeting, thresholds(BENCH_RAMP))
            if session.stop.is_set():
                break
            # A fresh node: memory a process once held stays in its RSS, so RSS per subscription
            # is measured from a node that has carried nothing before the panel ramp.
            async with _target(name, args, workdir) as target:
                idle = target.proc()
                panel = await session.ramp(target, capacity_base, CAPACITY_RAMP)
                good, beyond = crossing(panel, thresholds(CAPACITY_RAMP))
                limits[name] = report.Limit(
                    good[1] if good else None,
                    beyond[1] if beyond else None,
                    idle.rss_bytes / 2**20 if idle else None,
                )
    finally:
        table = report.ratio_table(
            by_target.get("ours", []),
            by_target.get("janus", []),
            {heading: by_target.get(name, []) for name, heading in REFERENCES.items()},
            None if args.no_ramp else max_sizes,
        )
        session.write(
            "bench",
            "ours / Janus (lower is better, except meeting size):\n\n"
            + table
            + "\nWhere each node process crosses the thresholds (panel ramp: 4 publishers at "
            "720p, N viewers):\n\n"
            + report.limit_table(limits, thresholds(CAPACITY_RAMP))
            + _placement(args),
        )


def _placement(args: argparse.Namespace) -> str:
    server_cpus = getattr(args, "server_cpus", None)
    if server_cpus is None:
        return "\nThe SFU and the generator shared every CPU.\n"
    generator = sorted(os.sched_getaffinity(0))
    return f"\nThe SFU ran on CPU {sorted(server_cpus)} alone, the generator on {generator}.\n"


def _pin(args: argparse.Namespace) -> frozenset[int] | None:
    """With ``--pin``: moves this process (and so the generator processes it starts) to the
    generator's CPUs and returns the SFU's."""
    if not getattr(args, "pin", False):
        return None
    if getattr(args, "api", None):
        raise ValueError("--pin places an SFU the tool starts itself, not one at --api")
    server, generator = cores.split(os.sched_getaffinity(0))
    os.sched_setaffinity(0, generator)
    return server


async def _janus_only(session: Session) -> None:
    async with janus.local_janus(session.args.out / "work") as sfu:
        session.console.print(f"Janus (pid {sfu.pid}) at {sfu.janus.url}; Ctrl-C stops it")
        await session.stop.wait()


async def _main(args: argparse.Namespace) -> int:
    session = Session(args)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, session.stop.set)
    loop.add_signal_handler(signal.SIGTERM, session.stop.set)
    if args.command != "janus":
        session.console.print(f"preparing the clip in {args.cache_dir} (encoded once)…")
        session.clip = await asyncio.to_thread(load_clip, args.cache_dir)
    handler = {"run": _run, "bench": _bench, "janus": _janus_only}[args.command]
    await handler(session)
    return 130 if session.stop.is_set() else 0


def main() -> int:
    args = _parser().parse_args()
    if args.command == "worker":
        return worker.main()
    try:
        if args.command == "run":
            load_scenarios(args.scenario)  # a bad file is refused before anything starts
        args.server_cpus = _pin(args)
    except (ScenarioError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
