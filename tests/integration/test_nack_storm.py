"""A subscriber flooding the node with NACKs costs the node little and no one else their video."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport

from load_tests.server import parse_metrics, read_proc
from sfu.media.counters import DropReason
from sfu.media.history_py import HISTORY_SIZE, RESEND_BURST, RESEND_RATE_PER_S
from sfu.rtp.rtcp import FMT_NACK, RTPFB
from tests.conftest import RedisProcess
from tests.support.client import Client, receives_from
from tests.support.node import redis_token
from tests.support.process import node_subprocess

pytestmark = pytest.mark.webrtc

NACKS_PER_S = 1_000
STORM_S = 5.0
BASELINE_S = 3.0
ITEMS = 297  # a lost packet and the 16 after it each: 5,049 sequence numbers in 1,200 bytes


def _maximal_nacks(media_ssrc: int) -> list[bytes]:
    """Generic NACKs of 5,049 sequence numbers each, the first 512 of them a different part of
    the sequence space in each: between them, every packet the node still holds is asked for
    within 128 ms, as an attacker who does not read the sequence numbers would."""
    header = struct.pack("!BBHII", 0x80 | FMT_NACK, RTPFB, 2 + ITEMS, 1, media_ssrc)
    return [
        header
        + b"".join(struct.pack("!HH", (base + 17 * i) & 0xFFFF, 0xFFFF) for i in range(ITEMS))
        for base in range(0, 0x10000, HISTORY_SIZE)
    ]


async def _storm(transport: RTCDtlsTransport, nacks: list[bytes]) -> int:
    """Send ``NACKS_PER_S`` through the subscriber's own SRTCP session for ``STORM_S``."""
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    while (elapsed := loop.time() - start) < STORM_S:
        while sent < elapsed * NACKS_PER_S:
            await transport._send_rtp(nacks[sent % len(nacks)])
            sent += 1
        await asyncio.sleep(0.005)
    return sent


def _video_frames(clients: dict[str, Client]) -> dict[str, int]:
    """Video frames each client decoded of the others."""
    return {
        f"{o} at {n}": c.frames[o]["video"] for n, c in clients.items() for o in clients if o != n
    }


def _sample(pid: int, clients: dict[str, Client]) -> tuple[float, float, dict[str, int]]:
    return time.monotonic(), read_proc(pid).cpu_s, _video_frames(clients)


def _rates(
    start: tuple[float, float, dict[str, int]], end: tuple[float, float, dict[str, int]]
) -> tuple[float, dict[str, float]]:
    """The node's CPU (fraction of a core) and each client's video frames/s between samples."""
    seconds = end[0] - start[0]
    fps = {who: (end[2][who] - start[2][who]) / seconds for who in start[2]}
    return (end[1] - start[1]) / seconds, fps


async def test_a_nack_storm_is_refused_cheaply_while_the_others_video_goes_on(
    tmp_path: Path, redis_factory: Callable[[], RedisProcess]
) -> None:
    redis = redis_factory()
    env = {"SFU_REDIS_URL": redis.url}
    async with node_subprocess(env, log=tmp_path / "node.log") as (url, proc):
        publishers = {
            n: Client(url, "storm", await redis_token(redis.url, "storm", n)) for n in ("a", "b")
        }
        mallory = Client(url, "storm", await redis_token(redis.url, "storm", "mallory"))
        try:
            for client in publishers.values():
                await client.connect()
            await mallory.connect(publish=False)
            for name, client in publishers.items():
                others = [o for o in publishers if o != name]
                await client.wait_until(lambda c=client, o=others: receives_from(c, o))
            await mallory.wait_until(lambda: receives_from(mallory, ["a", "b"]))
            video = next(
                t.receiver
                for t in mallory.subscribe_pc.getTransceivers()
                if t.kind == "video" and t.receiver.getSynchronizationSources()
            )
            nacks = _maximal_nacks(video.getSynchronizationSources()[0].source)
            assert {len(nack) for nack in nacks} == {1200}

            start = _sample(proc.pid, publishers)
            await asyncio.sleep(BASELINE_S)
            calm = _sample(proc.pid, publishers)
            sent = await _storm(video.transport, nacks)
            stormy = _sample(proc.pid, publishers)
        finally:
            for client in (*publishers.values(), mallory):
                await client.close()
        metrics_url = url.replace("ws://", "http://").replace("/v1/signal", "/metrics")
        metrics = parse_metrics(httpx.get(metrics_url).text)

    cpu_calm, fps_calm = _rates(start, calm)
    cpu_storm, fps_storm = _rates(calm, stormy)
    refused = {
        reason: metrics[f'sfu_dropped_packets_total{{reason="{reason.value}"}}']
        for reason in (DropReason.NACK_OVER_LIMIT, DropReason.NACK_RATE_LIMITED)
    }
    summary = (
        f"{sent} NACKs; node CPU {cpu_calm:.1%} before, {cpu_storm:.1%} during; "
        f"video fps before {fps_calm}, during {fps_storm}; refused {refused}, "
        f"resent {metrics['sfu_retransmits_total']}"
    )
    assert sent >= 0.95 * NACKS_PER_S * STORM_S, summary
    assert cpu_storm < 0.10, summary
    for who, fps in fps_calm.items():
        assert fps_storm[who] >= 0.8 * fps, summary
    assert refused[DropReason.NACK_OVER_LIMIT] >= sent * (ITEMS * 17 - HISTORY_SIZE), summary
    assert refused[DropReason.NACK_RATE_LIMITED] > 0, summary
    resends = metrics["sfu_retransmits_total"]
    assert resends <= RESEND_BURST + RESEND_RATE_PER_S * (STORM_S + 1), summary
