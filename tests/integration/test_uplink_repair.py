"""Uplink repair end to end: a relay loses 5 % of an aiortc publisher's video packets on their way
to the node; the node NACKs them, unwraps the publisher's RTX and the subscriber gets a stream
without holes. With repair switched off (SFU_UPLINK_REPAIR=false) the holes stay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.client import Client
from tests.support.node import running_node
from tests.support.ports import free_udp_port
from tests.support.relay import RtpLoss, relay

pytestmark = pytest.mark.webrtc

LOSS = 0.05
PACKETS = 400  # of the publisher's video, through the relay, before the figures are read


async def _inbound_video(client: Client) -> dict[str, Any]:
    for transceiver in client.subscribe_pc.getTransceivers():
        if transceiver.kind == "video":
            for stats in (await transceiver.receiver.getStats()).values():
                if stats.type == "inbound-rtp":
                    return {"received": stats.packetsReceived, "lost": stats.packetsLost}
    return {}


async def _call_through_loss(repair: bool) -> tuple[RtpLoss, dict[str, Any], Any]:
    port = free_udp_port()
    loss = RtpLoss(LOSS)
    async with (
        running_node(
            udp_port=port,
            udp_bind="127.0.0.1",
            ice_host_addresses=["127.0.0.2"],
            uplink_repair=repair,
        ) as running,
        relay(("127.0.0.2", port), ("127.0.0.1", port), loss.__call__),
    ):
        publisher = Client(running.url, "lossy", await running.token("lossy", "pub"))
        viewer = Client(running.url, "lossy", await running.token("lossy", "viewer"))
        try:
            await publisher.connect()
            (video,) = [t for t in publisher.publish_pc.getTransceivers() if t.kind == "video"]
            loss.ssrc = video.sender._ssrc
            await viewer.connect(publish=False)
            await viewer.wait_until(lambda: viewer.frames["pub"]["video"] >= 10)

            async def enough() -> None:
                while loss.seen < PACKETS:
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(enough(), 30)
            await asyncio.sleep(0.5)  # the last repairs in flight
            received = await _inbound_video(viewer)
            assert not publisher.errors and not viewer.errors
            return loss, received, running.node.counters
        finally:
            await viewer.close()
            await publisher.close()


async def test_a_lossy_uplink_is_repaired_before_the_subscriber_sees_a_hole() -> None:
    loss, received, counters = await _call_through_loss(repair=True)
    share = received["received"] / (received["received"] + received["lost"])
    print(
        f"\nuplink loss {loss.dropped}/{loss.seen}: the subscriber received {share:.2%} "
        f"({received}); {counters.uplink_nacked} NACKed, {counters.uplink_recovered} repaired, "
        f"{counters.uplink_unrecovered} not"
    )
    assert loss.dropped >= 0.02 * loss.seen  # the relay did lose packets
    assert share >= 0.99
    assert counters.uplink_recovered >= loss.dropped - 2  # the last ones may still be in flight
    assert counters.uplink_nacked >= counters.uplink_recovered


async def test_without_repair_the_subscriber_sees_the_uplinks_holes() -> None:
    loss, received, counters = await _call_through_loss(repair=False)
    assert loss.dropped >= 0.02 * loss.seen
    assert received["lost"] >= loss.dropped // 2  # what the publisher lost stays lost
    assert counters.uplink_nacked == counters.uplink_recovered == 0
