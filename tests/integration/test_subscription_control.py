"""A subscriber steers what it receives: hiding a video pauses it, showing it resumes it."""

from __future__ import annotations

import asyncio
import json

import pytest

from sfu.media.counters import DropReason
from tests.support.client import Client
from tests.support.node import running_node

pytestmark = pytest.mark.webrtc

QUIET_S = 1.0  # longer than a frame interval and the node's in-flight packets


async def test_a_hidden_video_is_paused_and_resumes_when_shown() -> None:
    async with running_node() as running:
        pub = Client(running.url, "r", await running.token("r", "pub"))
        sub = Client(running.url, "r", await running.token("r", "sub"))
        try:
            await pub.connect()
            await sub.connect(publish=False)
            await sub.wait_until(lambda: sub.frames["pub"]["video"] > 10)
            video = sub.track_id("pub", "video")
            await sub.wait_until(lambda: sub.layers.get(video) is not None)
            # the answer's feedback decides what the node keeps for NACKs: video, not Opus
            negotiated = {
                d.line.kind: d.line.nack
                for p in running.node.participants
                for d in p.subscriber.downtracks.values()
            }
            assert negotiated == {"video": True, "audio": False}

            await sub.send({"type": "video_size", "track_id": video, "width": 0, "height": 0})
            await sub.wait_until(lambda: video in sub.layers and sub.layers[video] is None)
            await asyncio.sleep(QUIET_S)
            paused_at = sub.frames["pub"]["video"]
            audio_at = sub.frames["pub"]["audio"]
            await asyncio.sleep(QUIET_S)
            assert sub.frames["pub"]["video"] == paused_at  # nothing forwarded while hidden
            assert sub.frames["pub"]["audio"] > audio_at  # audio is not affected

            await sub.send({"type": "video_size", "track_id": video, "width": 640, "height": 480})
            await sub.wait_until(lambda: sub.frames["pub"]["video"] > paused_at + 10)
            assert sub.layers[video] is not None
            assert running.node.counters.drops[DropReason.PAUSED] > 0
            assert not sub.errors
        finally:
            await pub.close()
            await sub.close()


async def test_unknown_track_in_video_quality_is_an_error_frame() -> None:
    async with running_node() as running:
        sub = Client(running.url, "r", await running.token("r", "sub"))
        try:
            await sub.connect(publish=False)
            await sub.send({"type": "video_quality", "track_id": "TR_x", "quality": "low"})
            await sub.wait_until(lambda: bool(sub.errors))
            assert sub.errors[0]["code"] == "unknown_track"
            await sub.send({"type": "video_quality", "track_id": "TR_x", "quality": "ultra"})
            await sub.wait_until(lambda: len(sub.errors) > 1)
            assert sub.errors[1]["code"] == "bad_message"
            assert "quality" in json.dumps(sub.errors[1])
        finally:
            await sub.close()
