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


def _inbound_video(client: Client) -> dict[str, Any]:
    """The subscriber's reception of the video stream itself (its SSRC is the first of the
    m-line's FID group; the second is the RTX stream the node resends on)."""
    sdp = client.subscribe_pc.remoteDescription.sdp
    media_ssrc = next(
        int(line.split()[1]) for line in sdp.splitlines() if line.startswith("a=ssrc-group:FID")
    )
    (video,) = [t for t in client.subscribe_pc.getTransceivers() if t.kind == "video"]
    # aiortc gives every SSRC of a receiver the same inbound-rtp stats id, so getStats() keeps
    # one of the two streams: read its per-SSRC statistics instead.
    stream = video.receiver._RTCRtpReceiver__remote_streams[media_ssrc]
    return {"received": stream.packets_received, "lost": stream.packets_lost}


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
            received = _inbound_video(viewer)
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
