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


async def serve_until_stopped(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    on_sigterm: Callable[[], None] | None = None,
    exit_when: asyncio.Event | None = None,
) -> None:
    """Run uvicorn on the current loop; return once a signal asked it to stop, or once
    `exit_when` is set. With `on_sigterm` (a media node's drain), SIGTERM calls it instead of
    stopping; SIGINT, or a second SIGTERM, stops at once.

    WebSocket frames above the signaling limit are refused by uvicorn itself (close 1009).
    """
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, ws_max_size=MAX_FRAME_BYTES, log_level="warning")
    )
    terms = 0

    def exit_now() -> None:
        server.should_exit = True

    def sigterm() -> None:
        nonlocal terms
        terms += 1
        if on_sigterm is None or terms > 1:
            exit_now()
        else:
            on_sigterm()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, sigterm)
    loop.add_signal_handler(signal.SIGINT, exit_now)
    watcher = None
    if exit_when is not None:
        watcher = asyncio.create_task(exit_when.wait())
        watcher.add_done_callback(lambda _: exit_now())
    try:
        await server.serve()
    finally:
        if watcher is not None:
            watcher.cancel()


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
