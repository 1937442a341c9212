"""A webhook receiver for tests: a real HTTP server on loopback that records every POST."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.ports import free_port

HANG = 0  # scripted instead of a status: the receiver never answers that request


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        event_id: str = json.loads(self.body)["id"]
        return event_id


@dataclass
class Receiver:
    """Records every POST; answers each path from its script of statuses, then 200."""

    port: int
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, count: int, path: str = "/hook") -> list[Received]:
        """The first `count` requests to `path`, once they have arrived."""
        async with asyncio.timeout(5):
            while len(self.on(path)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.on(path)[:count]

    async def endpoint(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append(Received(path, dict(request.headers), await request.body()))
        self._arrived.set()
        script = self.scripts.get(path)
        status = script.pop(0) if script else 200
        if status == HANG:
            await self.release.wait()
            status = 200
        return Response(status_code=status)


@contextlib.asynccontextmanager
async def serving_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port())
    app = Starlette(routes=[Route("/{name}", receiver.endpoint, methods=["POST"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield receiver
    receiver.release.set()  # hung requests finish, so the server can stop
    server.should_exit = True
    await task
