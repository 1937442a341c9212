"""The media pods' preStop hook, exactly as the chart renders it, against a real node process
that is PID 1 of its own PID namespace (as in a container): the node drains (no new rooms,
the call goes on), the hook keeps waiting while it does, and once the last participant leaves
the node exits 0 and the hook ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import RedisProcess
from tests.helm.chart import container, render
from tests.support.node import redis_token
from tests.support.ports import free_port
from tests.support.process import REPO, node_env

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")),
    reason="needs root, unshare and nsenter for a PID namespace",
)


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def readyz(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return None


def pid_one_of(unshare: subprocess.Popen[bytes]) -> int:
    """The host pid of the process `unshare --fork` started (PID 1 inside)."""
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children")
    eventually(lambda: bool(children.read_text().split()), 5)
    return int(children.read_text().split()[0])


@pytest.fixture
def node_as_pid_1(
    tmp_path: Path, redis_factory: Callable[[], RedisProcess]
) -> Iterator[tuple[subprocess.Popen[bytes], int, int, str]]:
    """The node as PID 1, its port, and the URL of the Redis it registered in."""
    port = free_port()
    redis = redis_factory()
    log = (tmp_path / "node.log").open("wb")
    node = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "sfu"],
        cwd=REPO,
        env=node_env(port, {"SFU_REDIS_URL": redis.url}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(lambda: readyz(port) == 200 or node.poll() is not None)
        assert node.poll() is None, (tmp_path / "node.log").read_text()
        yield node, pid_one_of(node), port, redis.url
    finally:
        node.kill()
        node.wait()
        log.close()


@contextlib.contextmanager
def joining(port: int, room: str, token: str) -> Iterator[ClientConnection]:
    """A participant (signaling only: enough to keep a room open) sending its `join`."""
    with connect(f"ws://127.0.0.1:{port}/v1/signal") as ws:
        ws.send(json.dumps({"type": "join", "protocol": 1, "room": room, "token": token}))
        yield ws


def test_prestop_hook_drains_the_node_and_waits_for_its_calls(
    node_as_pid_1: tuple[subprocess.Popen[bytes], int, int, str],
) -> None:
    node, pid_1, port, redis_url = node_as_pid_1
    # Both rooms are placed on the node while it takes rooms; "another" is joined once it drains.
    ada = asyncio.run(redis_token(redis_url, "call", "ada"))
    bob = asyncio.run(redis_token(redis_url, "another", "bob"))
    media = render({"redis": {"url": "redis://r:6379/0"}}).media()
    hook = container(media)["lifecycle"]["preStop"]["exec"]["command"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with joining(port, "call", ada) as call:
        assert json.loads(call.recv(timeout=10))["type"] == "joined"
        running = subprocess.Popen(["nsenter", "--target", str(pid_1), "--pid", *hook], env=env)
        try:
            eventually(lambda: readyz(port) == 503)  # draining: out of the ready set
            late = joining(port, "another", bob)  # no new rooms here
            with late as ws, pytest.raises(ConnectionClosed) as refused:
                ws.recv(timeout=10)
            assert refused.value.rcvd is not None and refused.value.rcvd.code == 4503
            time.sleep(1.0)
            assert node.poll() is None, "the node must keep its call"
            assert running.poll() is None, "the hook must wait while the node drains"
            call.send(json.dumps({"type": "ping", "ts": 1}))
            assert json.loads(call.recv(timeout=10))["type"] == "pong"

            call.send(json.dumps({"type": "leave"}))  # the last participant leaves
            assert node.wait(20) == 0
            # The hook never returned by itself (Kubernetes' SIGTERM after it would end the
            # calls): it ended when its namespace's PID 1, the node, exited.
            assert running.wait(10) == -signal.SIGKILL
        finally:
            if running.poll() is None:
                running.kill()
                running.wait()
