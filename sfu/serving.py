"""Serving an ASGI app until SIGTERM or SIGINT, the same way for every process we ship."""

from __future__ import annotations

import asyncio
import signal

import uvicorn
from starlette.types import ASGIApp

from sfu.signaling.messages import MAX_FRAME_BYTES


async def serve_until_stopped(app: ASGIApp, host: str, port: int) -> None:
    """Run uvicorn on the current loop; return once a signal asked it to stop.

    WebSocket frames above the signaling limit are refused by uvicorn itself (close 1009).
    """
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, ws_max_size=MAX_FRAME_BYTES, log_level="warning")
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: setattr(server, "should_exit", True))
    await server.serve()
