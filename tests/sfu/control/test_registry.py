"""NodeRegistration (media node side): register, beat, come back after the store forgets,
drain, deregister, and survive store failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cluster.models import NodeInfo, NodeLoad, NodeStatus
from cluster.store import MemoryStore, RedisStore, Store
from sfu.control.registry import NodeRegistration
from tests.support.ports import free_port

INFO = NodeInfo(id="node-1", url="ws://node-1/ws", capacity=20)
INTERVAL = 0.02


class Load:
    """A settable load source; `fail` makes the callback raise like a broken probe would."""

    def __init__(self) -> None:
        self.value = NodeLoad(participants=1, tracks=2, packets_per_s=3.0, cpu=0.5)
        self.fail = False

    def __call__(self) -> NodeLoad:
        if self.fail:
            raise RuntimeError("load probe broke")
        return self.value


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(INTERVAL / 2)


async def node_in(store: Store) -> NodeStatus | None:
    return next((n for n in await store.list_nodes() if n.info.id == INFO.id), None)


def registration(store: Store, load: Load, **kwargs: Any) -> NodeRegistration:
    return NodeRegistration(store, INFO, load, interval_s=INTERVAL, clock=lambda: 500.0, **kwargs)


async def test_start_registers_and_beats_then_stop_deregisters(store: Store) -> None:
    load = Load()
    reg = registration(store, load)
    await reg.start()
    try:
        status = await node_in(store)
        assert status is not None
        assert (status.info, status.load, status.heartbeat_at) == (INFO, load.value, 500.0)
        assert reg.registered
        load.value = NodeLoad(participants=7)

        async def load_updated() -> bool:
            current = await node_in(store)
            return current is not None and current.load.participants == 7

        await eventually(load_updated)
    finally:
        await reg.stop()
    assert await node_in(store) is None
    assert not reg.registered


async def test_registers_again_when_the_store_forgets_it(store: Store) -> None:
    reg = registration(store, Load())
    await reg.start()
    try:
        await store.remove_node(INFO.id)  # what a Redis restart or an expired key looks like

        async def back() -> bool:
            return await node_in(store) is not None

        await eventually(back)
        assert reg.registered
    finally:
        await reg.stop()


async def test_draining_survives_re_registration(store: Store) -> None:
    reg = registration(store, Load())
    await reg.start()
    try:
        await reg.drain()
        status = await node_in(store)
        assert status is not None and status.info.state == "draining"
        await store.remove_node(INFO.id)

        async def back_draining() -> bool:
            status = await node_in(store)
            return status is not None and status.info.state == "draining"

        await eventually(back_draining)
    finally:
        await reg.stop()


async def test_start_twice_is_a_bug() -> None:
    reg = registration(MemoryStore(), Load())
    await reg.start()
    try:
        with pytest.raises(RuntimeError):
            await reg.start()
    finally:
        await reg.stop()


async def test_failing_load_probe_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    load = Load()
    load.fail = True
    reg = registration(store, load)
    with caplog.at_level(logging.WARNING, logger="sfu.control.registry"):
        await reg.start()
    try:
        assert not reg.registered
        assert "load probe broke" in caplog.text
        load.fail = False

        async def recovered() -> bool:
            status = await node_in(store)
            return reg.registered and status is not None and status.heartbeat_at == 500.0

        await eventually(recovered)
    finally:
        await reg.stop()


@pytest.mark.redis
async def test_unreachable_store_never_crashes_the_node(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
    reg = registration(store, Load())
    with caplog.at_level(logging.WARNING, logger="sfu.control.registry"):
        await reg.start()
        await asyncio.sleep(INTERVAL * 5)
        assert not reg.registered
        assert reg._task is not None and not reg._task.done()
        await reg.stop()
    await store.close()
    failures = [r for r in caplog.records if "store call failed" in r.getMessage()]
    assert len(failures) >= 2
    assert failures[0].exc_info  # traceback once per failure streak
    assert not any(r.exc_info for r in failures[1:])


@pytest.mark.redis
async def test_comes_back_after_a_redis_restart(redis_factory: Callable[..., Any]) -> None:
    redis = redis_factory()
    store = RedisStore.from_url(redis.url, node_ttl_s=30)
    reg = registration(store, Load())
    await reg.start()
    try:
        assert await node_in(store) is not None
        redis.stop()

        async def noticed() -> bool:
            return not reg.registered

        await eventually(noticed, within_s=10)
        redis_factory(port=redis.port)  # an empty Redis on the same address

        async def back() -> bool:
            return reg.registered and await node_in(store) is not None

        await eventually(back, within_s=10)
    finally:
        await reg.stop()
        await store.close()
