"""The media node's side of the control plane: register, heartbeat its load, deregister.

The node writes to the same `Store` the control API reads (Redis when several nodes run, the
shared MemoryStore in the one-process run). The heartbeat loop outlives store failures: it
logs, keeps its schedule and registers again when the store has forgotten the node (Redis
restarted, or the node's key expired during a long pause). `on_beat` runs after every accepted
heartbeat, told whether the node was (re)registered, so the node can write again what the store
forgot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from cluster.models import NodeInfo, NodeLoad
from cluster.store.base import Store

logger = logging.getLogger(__name__)

BEAT_INTERVAL_S = 2.0


class NodeRegistration:
    def __init__(
        self,
        store: Store,
        info: NodeInfo,
        load: Callable[[], NodeLoad],
        *,
        interval_s: float = BEAT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
        on_beat: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._info = info
        self._load = load
        self._stopping = asyncio.Event()
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._registered = False
        self._failing = False
        self._on_beat = on_beat

    @property
    def info(self) -> NodeInfo:
        return self._info

    @property
    def registered(self) -> bool:
        """True while the last heartbeat was accepted (the node's readiness)."""
        return self._registered

    async def start(self) -> None:
        """Register and beat once now, then every `interval_s`. Never raises on store errors."""
        if self._task is not None:
            raise RuntimeError("NodeRegistration already started")
        await self._beat(register=True)
        self._task = asyncio.create_task(self._run(), name=f"node-registration-{self._info.id}")

    async def drain(self) -> None:
        """Take no new rooms (existing rooms stay); kept across re-registrations."""
        self._info = dataclasses.replace(self._info, state="draining")
        await self._guarded(self._store.set_node_state(self._info.id, "draining"))

    async def stop(self) -> None:
        """Stop beating and deregister, so the node's rooms move without waiting for the TTL.

        The beat loop is asked to finish rather than cancelled: a cancellation landing inside
        a Redis command can be swallowed by the client library, and then nothing ends the loop.
        """
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        self._registered = False
        await self._guarded(self._store.remove_node(self._info.id))

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
                return
            except TimeoutError:
                await self._beat(register=False)

    async def _beat(self, *, register: bool) -> None:
        async def beat() -> None:
            if register:
                await self._store.register_node(self._info)
            accepted = await self._store.heartbeat(self._info.id, self._load(), self._clock())
            registered = register
            if not accepted:
                logger.warning("node %s: unknown to the store, registering again", self._info.id)
                await self._store.register_node(self._info)
                accepted = await self._store.heartbeat(self._info.id, self._load(), self._clock())
                registered = True
            self._registered = accepted
            if accepted and self._on_beat is not None:
                await self._on_beat(registered)

        if not await self._guarded(beat()):
            self._registered = False

    async def _guarded(self, call: Coroutine[Any, Any, None]) -> bool:
        """Run a store call; log a failure (with traceback only on the first of a streak)."""
        try:
            await call
        except Exception as exc:  # store down, or the load callback failed: retry next beat
            logger.warning(
                "node %s: control-plane store call failed: %s",
                self._info.id,
                exc,
                exc_info=not self._failing,
            )
            self._failing = True
            return False
        if self._failing:
            logger.info("node %s: control-plane store reachable again", self._info.id)
            self._failing = False
        return True
