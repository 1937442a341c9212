"""Servers the load tool starts itself (our stack, Janus): wait until they answer, stop them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import httpx

from load_tests.cores import spawning_on

POLL_S = 0.1


def start(
    command: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cpus: Collection[int] | None = None,
) -> subprocess.Popen[bytes]:
    """``command`` with its output in ``log``, on ``cpus`` (None: wherever the tool may run)."""
    with log.open("wb") as out, spawning_on(cpus):
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_answering(
    url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout_s: float = 20.0
) -> None:
    """Until `url` answers 200; fails at once if the process exits, with its log named."""
    async with httpx.AsyncClient() as client:
        for _ in range(round(timeout_s / POLL_S)):
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited ({proc.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(POLL_S)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (a media node exits at once; SIGTERM would drain), then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
