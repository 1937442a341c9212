"""The node's ear for the control plane: commands from the store's channel, acted on in order.

The subscription outlives store failures: when the channel breaks (Redis restarted), it is
opened again after `retry_s`. Commands sent while it was down are lost, which the control plane
allows for (see `cluster.commands`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cluster.commands import NodeCommand
from cluster.store.base import Store

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 3.0


class CommandListener:
    def __init__(
        self,
        store: Store,
        node_id: str,
        handle: Callable[[NodeCommand], Awaitable[None]],
        *,
        retry_s: float = 1.0,
    ) -> None:
        self._store = store
        self._node_id = node_id
        self._handle = handle
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"commands-{self._node_id}")

    async def stop(self) -> None:
        """Cancel the subscription; bounded, as a cancellation inside a Redis call can be lost."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
            self._task = None
        self.listening = False

    async def _run(self) -> None:
        while True:
            try:
                async with self._store.subscribe_commands(self._node_id) as commands:
                    self.listening = True
                    async for command in commands:
                        await self._act(command)
            except Exception as exc:
                logger.warning("node %s: command channel broke: %s", self._node_id, exc)
            self.listening = False
            await asyncio.sleep(self._retry_s)

    async def _act(self, command: NodeCommand) -> None:
        logger.info("< command %s %s %s", command.kind, command.room, command.identity)
        try:
            await self._handle(command)
        except Exception:
            logger.exception("command %s failed", command.kind)
