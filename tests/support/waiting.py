"""Waiting for a test client's state: on its change events, bounded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any


async def until(
    predicate: Callable[[], Any], changed: asyncio.Event, timeout: float, recheck_s: float = 0.5
) -> None:
    """Return once ``predicate()`` holds, checking it whenever ``changed`` is set (and every
    ``recheck_s``, for state that changes without it); TimeoutError after ``timeout``."""

    async def loop() -> None:
        while not predicate():
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), recheck_s)

    await asyncio.wait_for(loop(), timeout)
