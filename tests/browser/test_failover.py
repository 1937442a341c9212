"""The web client when its node dies: it gets a new token from the app flow (here the demo
route of the control API) and rejoins on another node by itself, within 10 s.

Runs the multi-node deployment (real redis-server, control API, two node processes) rather
than the one-process stack the other browser tests share.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.harness import join, wait_for
from tests.conftest import RedisProcess
from tests.support.cluster import cluster

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.asyncio(loop_scope="session")]

REJOIN_WITHIN_S = 10.0
# True once a video of `peer` shows frames.
DECODING_JS = """
(peer) => [...document.querySelectorAll(`.tile.remote[data-identity="${peer}"] video`)]
  .some((video) => video.readyState >= 2 && video.videoWidth > 0)
"""
STATE_JS = "() => window.sfu?.state"


async def test_the_web_client_rejoins_on_another_node_when_its_node_dies(
    chromium: Browser, redis_factory: Callable[..., RedisProcess], tmp_path: Path, room: str
) -> None:
    redis = redis_factory()
    async with cluster(redis.url, tmp_path, nodes=2, env={"SFU_DEMO": "true"}) as two:
        ada = await join(chromium, two.base_url, room, "ada")
        bob = await join(chromium, two.base_url, room, "bob")
        try:
            await asyncio.gather(
                wait_for(ada.page, DECODING_JS, "bob"), wait_for(bob.page, DECODING_JS, "ada")
            )
            hosting = (await two.api.get(f"/v1/rooms/{room}")).json()["node"]["id"]
            two.nodes[hosting].signal(signal.SIGKILL)
            killed = time.monotonic()

            async def rejoined_elsewhere() -> bool:
                detail = (await two.api.get(f"/v1/rooms/{room}")).json()
                return detail["node"]["id"] != hosting and detail["participants"] == 2

            await two.wait_for(rejoined_elsewhere, timeout=3 * REJOIN_WITHIN_S)
            rejoined_s = time.monotonic() - killed
            await asyncio.gather(
                wait_for(ada.page, DECODING_JS, "bob"), wait_for(bob.page, DECODING_JS, "ada")
            )
            media_s = time.monotonic() - killed
            print(
                f"\nnode killed -> both rejoined {rejoined_s:.1f} s, both see video {media_s:.1f} s"
            )
            assert rejoined_s < REJOIN_WITHIN_S
            assert [await p.page.evaluate(STATE_JS) for p in (ada, bob)] == ["joined", "joined"]
            assert not ada.page_errors() and not bob.page_errors()
        finally:
            await ada.close()
            await bob.close()
