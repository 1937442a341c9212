"""Run one media node: ``python -m sfu`` (settings from SFU_* environment variables)."""

from __future__ import annotations

import asyncio
import signal

import uvicorn
import uvloop

from control_api.store import open_store
from sfu.node import Node
from sfu.observability.logs import configure_logging
from sfu.settings import NodeSettings
from sfu.signaling.messages import MAX_FRAME_BYTES


async def serve(settings: NodeSettings) -> None:
    store = open_store(settings.redis_url)
    node = Node(settings, store)
    await node.start()
    config = uvicorn.Config(
        node.app(),
        host=settings.node_host,
        port=settings.node_port,
        ws_max_size=MAX_FRAME_BYTES,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        await node.stop()
        await store.close()


def main() -> None:
    configure_logging()
    uvloop.run(serve(NodeSettings()))


if __name__ == "__main__":
    main()
