"""The server every process ships with: its housekeeping loop ticks once a second, and asking it
to exit wakes it at once rather than at the next tick."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving.limits import HttpLimits
from serving.server import serve_until_stopped
from tests.support.ports import free_port


async def test_an_exit_request_wakes_the_server_at_once(monkeypatch: object) -> None:
    ticks: list[int] = []
    on_tick = uvicorn.Server.on_tick

    async def counting(self: uvicorn.Server, counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(self, counter)

    monkeypatch.setattr(uvicorn.Server, "on_tick", counting)  # type: ignore[attr-defined]
    app = Starlette(routes=[Route("/", lambda _: PlainTextResponse("up"))])
    port, stop = free_port(), asyncio.Event()
    server = asyncio.create_task(
        serve_until_stopped(app, "127.0.0.1", port, limits=HttpLimits(), exit_when=stop)
    )
    async with httpx.AsyncClient() as client:
        for _ in range(200):  # bounded: until it answers
            try:
                if (await client.get(f"http://127.0.0.1:{port}/")).text == "up":
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    ticked = len(ticks)
    for _ in range(300):  # bounded: ask right after a tick, a second before the next one
        if len(ticks) > ticked:
            break
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    asked = loop.time()
    stop.set()
    await asyncio.wait_for(server, 10)
    # Woken by the request, not by its once-a-second tick (nor by uvicorn's ten a second).
    assert loop.time() - asked < 0.9
    assert ticks[0] == 0 and all(b - a == 10 for a, b in itertools.pairwise(ticks))
