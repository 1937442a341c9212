"""Run one media node: ``python -m sfu`` (settings from SFU_* environment variables).

SIGTERM drains (no new rooms; exit once the node's calls end or SFU_DRAIN_TIMEOUT_S passes),
as does ``POST /v1/nodes/{id}/drain``; SIGINT or a second SIGTERM exits at once.
"""

from __future__ import annotations

import uvloop

from cluster.store import open_store
from serving.limits import HttpLimits
from serving.logs import configure_logging
from serving.server import serve_until_stopped
from sfu.node import Node
from sfu.settings import NodeSettings
from sfu.signaling.messages import MAX_WS_FRAME_BYTES


async def serve(settings: NodeSettings) -> None:
    store = open_store(settings.redis_url, node_ttl_s=settings.node_ttl_s)
    node = Node(settings, store)
    await node.start()
    try:
        await serve_until_stopped(
            node.app(),
            settings.node_host,
            settings.node_port,
            limits=HttpLimits(),
            ws_max_bytes=MAX_WS_FRAME_BYTES,
            on_sigterm=node.drain,
            exit_when=node.drained,
        )
    finally:
        await node.stop()
        await store.close()


def main() -> None:
    configure_logging()
    uvloop.run(serve(NodeSettings()))


if __name__ == "__main__":
    main()
