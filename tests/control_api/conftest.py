"""Control-plane fixtures: `store` runs each test on both implementations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from control_api.store import MemoryStore, RedisStore, Store

RedisStoreFactory = Callable[..., RedisStore]
T0 = 1_700_000_000.0


class Clock:
    """A settable clock for the apps and stores under test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def make_redis_store(redis_server: str) -> AsyncIterator[RedisStoreFactory]:
    """Build RedisStores on a fresh key prefix, so tests sharing one redis-server never collide.

    Call with `prefix=` to give two stores (two control-plane replicas) the same data. The key
    TTL is long by default: these tests drive liveness with the `now` they pass in.
    """
    made: list[RedisStore] = []
    default_prefix = f"test:{uuid.uuid4().hex}:"

    def make(
        *,
        node_ttl_s: float = 60.0,
        forget_after_s: float | None = None,
        prefix: str = default_prefix,
    ) -> RedisStore:
        store = RedisStore.from_url(
            redis_server, node_ttl_s=node_ttl_s, forget_after_s=forget_after_s, prefix=prefix
        )
        made.append(store)
        return made[-1]

    yield make
    for store in made:
        await store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return MemoryStore()
    make: RedisStoreFactory = request.getfixturevalue("make_redis_store")
    return make()
