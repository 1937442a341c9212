"""A media node: its rooms, the signaling endpoint, metrics, and its place in the registry.

One node process is one core's worth; run several per machine, each registered separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from control_api.domain.models import NodeInfo, NodeLoad
from control_api.store.base import Store
from sfu.control.registry import NodeRegistration
from sfu.media.clock import monotonic_ms
from sfu.media.counters import MediaCounters
from sfu.observability.metrics import NodeMetrics
from sfu.rooms.participant import MediaConfig
from sfu.rooms.room import Room
from sfu.settings import NodeSettings
from sfu.signaling.session import SignalingSession
from sfu.webrtc.stack import configure_aiortc

logger = logging.getLogger(__name__)

TICK_S = 1.0  # receiver reports, REMB, sender reports, layer fallback


class Node:
    def __init__(
        self, settings: NodeSettings, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.id = settings.resolved_id()
        self.url = settings.resolved_url()
        self.counters = MediaCounters()
        self.rooms: dict[str, Room] = {}
        self._clock = clock
        self._config = MediaConfig(
            counters=self.counters,
            default_layer=settings.default_layer,
            start_bitrate_kbps=settings.start_bitrate_kbps,
            remb_bps=settings.remb_bps,
        )
        self._registration = NodeRegistration(
            store,
            NodeInfo(id=self.id, url=self.url, capacity=settings.node_capacity, state="active"),
            self.load,
            clock=clock,
        )
        self.metrics = NodeMetrics(self)
        self._ticker: asyncio.Task[None] | None = None

    def room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        return room

    def load(self) -> NodeLoad:
        participants = sum(len(r.participants) for r in self.rooms.values())
        tracks = sum(len(p.published) for r in self.rooms.values() for p in r.participants.values())
        return NodeLoad(participants=participants, tracks=tracks, packets_per_s=0.0, cpu=0.0)

    async def start(self) -> None:
        configure_aiortc(self.settings.ice_host_addresses)
        await self._registration.start()
        self._ticker = asyncio.create_task(self._tick_loop())
        logger.info("node %s serving %s", self.id, self.url)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for room in list(self.rooms.values()):
            for participant in list(room.participants.values()):
                participant.disconnect(1001, "node shutting down")
                await room.leave(participant)
        await self._registration.stop()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now_ms = monotonic_ms()
            for name, room in list(self.rooms.items()):
                if not room.participants:
                    del self.rooms[name]
                    continue
                try:
                    room.tick(now_ms)
                except Exception:
                    logger.exception("tick of room %s failed", name)

    async def _signal(self, websocket: WebSocket) -> None:
        session = SignalingSession(
            websocket,
            rooms=self.room,
            secrets=self.settings.api_keys,
            config=self._config,
            clock=self._clock,
        )
        await session.run()

    async def _metrics(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "node": self.id})

    def app(self) -> Starlette:
        """The node's HTTP side: signaling WebSocket, /metrics, /healthz."""
        return Starlette(
            routes=[
                WebSocketRoute("/v1/signal", self._signal),
                Route("/metrics", self._metrics),
                Route("/healthz", self._healthz),
            ]
        )
