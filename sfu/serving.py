"""Serving an ASGI app until SIGTERM or SIGINT, the same way for every process we ship."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn
import uvloop
from starlette.types import ASGIApp

from sfu.observability.logs import configure_logging
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


def run_from_command_line(
    description: str, serve: Callable[[str, int], Coroutine[Any, Any, None]]
) -> None:
    """``--host``/``--port`` from the command line, logging set up, ``serve`` run on uvloop."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    configure_logging()
    uvloop.run(serve(args.host, args.port))
