"""Serving an ASGI app until SIGTERM or SIGINT, the same way for every process we ship."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

import uvicorn
import uvloop
from starlette.types import ASGIApp

from serving.bounded_http import bounded_protocol
from serving.limits import HttpLimits
from serving.logs import configure_logging

UVICORN_WS_MAX_BYTES = 16 * 1024 * 1024  # uvicorn's own default, for apps without WebSockets


class _Server(uvicorn.Server):
    """uvicorn's server, with SIGTERM optionally turned into a call (a media node's drain), and
    its housekeeping loop awake once a second instead of ten times: on a media node every
    wake-up costs about as much as forwarding a few packets. Asking it to exit wakes it."""

    def __init__(self, config: uvicorn.Config, on_sigterm: Callable[[], None] | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        self._should_exit = False
        super().__init__(config)
        self._on_sigterm = on_sigterm

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value:  # from a signal handler too, so through the loop's wake-up pipe
            self._loop.call_soon_threadsafe(self._exit.set)

    async def main_loop(self) -> None:
        """uvicorn's, ticking each second (the Date header's resolution; on_tick counts tenths)."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._on_sigterm is not None:
            on_sigterm, self._on_sigterm = self._on_sigterm, None  # a second SIGTERM exits
            self._loop.call_soon_threadsafe(on_sigterm)
            return
        super().handle_exit(sig, frame)


async def serve_until_stopped(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    limits: HttpLimits,
    ws_max_bytes: int = UVICORN_WS_MAX_BYTES,
    on_sigterm: Callable[[], None] | None = None,
    exit_when: asyncio.Event | None = None,
) -> None:
    """Run uvicorn on the current loop; return once SIGTERM or SIGINT asked it to stop, or
    once `exit_when` is set. With `on_sigterm`, the first SIGTERM calls it instead of stopping.

    Every connection is bounded by `limits` (`serving.limits`): request headers and bodies
    must arrive in time, idle keep-alive connections close, and above the connection limit
    requests and WebSocket handshakes get 503. WebSocket frames above `ws_max_bytes` (a node's
    signaling limit) are refused by uvicorn itself (close 1009).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=bounded_protocol(limits),
        limit_concurrency=limits.http_max_connections,
        timeout_keep_alive=limits.http_keep_alive_s,
        ws_max_size=ws_max_bytes,
        # Signaling is a few small messages and the odd SDP: per-message compression would cost
        # each connection ~50 KB of zlib state for bytes that do not matter.
        ws_per_message_deflate=False,
        log_level="warning",
    )
    server = _Server(config, on_sigterm)
    watcher = None
    if exit_when is not None:
        watcher = asyncio.create_task(exit_when.wait())
        watcher.add_done_callback(lambda _: setattr(server, "should_exit", True))
    # What startup made (modules, the app) lives as long as the process: out of the collector's
    # reach, a full collection visits only what was made since.
    gc.freeze()
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
