"""Fixtures shared by the whole suite: real redis-server processes, the stores on them (`store`
runs a test on both implementations), and the kernels of either implementation."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The suite's clients encode and decode with aiortc in this process: import it whole (with PyAV)
# before a test imports sfu.webrtc, which would load it without codecs (sfu/webrtc/nocodecs.py).
import aiortc  # noqa: F401
import pytest
from hypothesis import settings

from cluster.store import MemoryStore, RedisStore, Store
from cython_ext.twins import IMPLEMENTATIONS
from tests.support import kernels as twins
from tests.support.ports import free_port
from tests.support.stores import T0, Clock, RedisStoreFactory
from tests.support.webhooks import Receiver, serving_receiver

# Unit tests assert behaviour, not speed: a loaded CI machine must not fail them on deadlines.
# CI runs a fixed set of examples (a gate must be repeatable); local runs explore new ones.
settings.register_profile("sfu", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("sfu")


@pytest.fixture(scope="session", params=IMPLEMENTATIONS, ids=twins.IDS.get)
def kernels(request: pytest.FixtureRequest) -> twins.Kernels:
    """Every kernel in one implementation; a test using it runs on both. A compiled module that
    is not built fails the "cy" tests: it is never skipped."""
    return twins.kernels(request.param)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisProcess:
    """One `redis-server` without persistence (`--save ''`, no AOF), on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(workdir: Path, port: int | None = None) -> RedisProcess:
    """Start a redis-server and wait until it answers PING (fails the test otherwise)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make system-deps-test installs it)")
    port = port if port is not None else free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    redis = RedisProcess(
        port, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    )
    deadline = time.monotonic() + 10.0
    while not _answers_ping(port):
        if redis.process.poll() is not None:
            pytest.fail(f"redis-server exited with code {redis.process.returncode} (port {port})")
        if time.monotonic() > deadline:
            redis.stop()
            pytest.fail(f"redis-server did not answer PING on port {port} within 10 s")
        time.sleep(0.05)
    return redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server shared by the whole session.

    Tests sharing it should use their own key prefix (`RedisStore(prefix=...)`) rather than
    flushing it.
    """
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield redis.url
    finally:
        redis.stop()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisProcess]]:
    """Start private redis-servers (`port=` to restart one on the same port); all are
    stopped at the end of the test. For tests that kill or restart Redis."""
    started: list[RedisProcess] = []

    def start(port: int | None = None) -> RedisProcess:
        started.append(start_redis(tmp_path, port))
        return started[-1]

    yield start
    for redis in started:
        redis.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on a free loopback port (tests.support.webhooks)."""
    async with serving_receiver() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def make_redis_store(redis_server: str) -> AsyncIterator[RedisStoreFactory]:
    """Build RedisStores on a fresh key prefix, so tests sharing one redis-server never collide.

    Call with `prefix=` to give two stores (two control-plane replicas) the same data. The key
    TTL is long by default: these tests drive liveness with the `now` they pass in.
    """
    made: list[RedisStore] = []
    default_prefix = f"test:{uuid.uuid4().hex}:"

    def make(
        *,
        node_ttl_s: float = 60.0,
        forget_after_s: float | None = None,
        prefix: str = default_prefix,
    ) -> RedisStore:
        store = RedisStore.from_url(
            redis_server, node_ttl_s=node_ttl_s, forget_after_s=forget_after_s, prefix=prefix
        )
        made.append(store)
        return made[-1]

    yield make
    for store in made:
        await store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return MemoryStore()
    make: RedisStoreFactory = request.getfixturevalue("make_redis_store")
    return make()
