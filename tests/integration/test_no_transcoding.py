"""The node forwards packets untouched: it never creates a decoder or an encoder, and never even
loads PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import RedisProcess
from tests.support.client import Client, conference
from tests.support.node import redis_token
from tests.support.process import REPO, node_process, node_subprocess

pytestmark = pytest.mark.webrtc


async def test_node_never_decodes_or_encodes(
    tmp_path: Path, redis_factory: Callable[[], RedisProcess]
) -> None:
    redis = redis_factory()
    guard_log = tmp_path / "codecs.log"
    guard_log.touch()
    env = {
        "PYTHONPATH": f"{REPO / 'tests/support/codec_guard'}",
        "SFU_CODEC_GUARD_LOG": str(guard_log),
        "SFU_REDIS_URL": redis.url,
    }
    async with node_process(env, log=tmp_path / "node.log") as url:
        a = Client(url, "r", await redis_token(redis.url, "r", "a"))
        b = Client(url, "r", await redis_token(redis.url, "r", "b"))
        try:
            await a.connect()
            await b.connect()
            await a.wait_until(
                lambda: a.frames["b"]["video"] >= 30 and a.frames["b"]["audio"] >= 30
            )
            await b.wait_until(
                lambda: b.frames["a"]["video"] >= 30 and b.frames["a"]["audio"] >= 30
            )
        finally:
            await a.close()
            await b.close()
        metrics = httpx.get(url.replace("ws://", "http://").replace("/v1/signal", "/metrics")).text
    forwarded = next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("sfu_packets_out_total")
    )
    assert forwarded > 100
    assert guard_log.read_text() == ""


async def test_a_call_through_the_node_never_loads_pyav(
    tmp_path: Path, redis_factory: Callable[[], RedisProcess]
) -> None:
    # aiortc clients (this process, with PyAV) negotiate and exchange media through a plain
    # `python -m sfu`, whose aiortc has no codecs (sfu/webrtc/nocodecs.py).
    redis = redis_factory()

    async def token(room: str, identity: str) -> str:
        return await redis_token(redis.url, room, identity)

    env = {"SFU_REDIS_URL": redis.url}
    async with (
        node_subprocess(env, log=tmp_path / "node.log") as (url, proc),
        conference(url, "r", ["a", "b"], token) as clients,
    ):
        for name, client in clients.items():
            other = "b" if name == "a" else "a"
            await client.wait_until(lambda c=client, o=other: c.frames[o]["video"] >= 30)
            assert not client.errors
        mapped = (Path("/proc") / str(proc.pid) / "maps").read_text()
    assert "libavcodec" not in mapped
    assert "/site-packages/av/" not in mapped
