"""Node and stack processes for tests: started on free loopback ports, always stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from load_tests.process import stop, wait_answering
from tests.support.keys import TEST_KEY_ID, TEST_SECRET
from tests.support.ports import free_port, free_udp_port

REPO = Path(__file__).resolve().parents[2]


def node_env(port: int, env: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a test node on loopback port `port`, with the suite's API key."""
    return {
        **os.environ,
        "SFU_API_KEYS": f"{TEST_KEY_ID}:{TEST_SECRET}",
        "SFU_NODE_HOST": "127.0.0.1",
        "SFU_NODE_PORT": str(port),
        "SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
        "SFU_UDP_PORT": str(free_udp_port()),
        "SFU_UDP_BIND": "127.0.0.1",
        "SFU_TCP_PORT": str(free_port()),
        **env,
    }


def start(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python <args>` from the repository, its output going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )


@contextlib.asynccontextmanager
async def node_process(env: Mapping[str, str] = {}, *, log: Path) -> AsyncIterator[str]:
    """`python -m sfu` in demo mode; yields its signaling URL. Its output goes to ``log``."""
    async with node_subprocess(env, log=log) as (url, _):
        yield url


@contextlib.asynccontextmanager
async def node_subprocess(
    env: Mapping[str, str] = {}, *, log: Path
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """``node_process`` with the process too, for tests that read its CPU time from /proc."""
    port = free_port()
    proc = start(["-m", "sfu"], node_env(port, env), log)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield f"ws://127.0.0.1:{port}/v1/signal", proc
    finally:
        stop(proc)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `url` answers 200 (fails with the process's log if it exits first)."""
    try:
        await wait_answering(url, proc, log)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}:\n{log.read_text()}") from exc
