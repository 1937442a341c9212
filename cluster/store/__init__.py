"""Stores behind the `Store` protocol; `open_store` picks one from the settings."""

from __future__ import annotations

from cluster.models import DEFAULT_NODE_TTL_S
from cluster.store.base import Store
from cluster.store.memory_store import MemoryStore
from cluster.store.redis_store import RedisStore

__all__ = ["MemoryStore", "RedisStore", "Store", "open_store"]


def open_store(redis_url: str | None, *, node_ttl_s: float = DEFAULT_NODE_TTL_S) -> Store:
    """Redis when a URL is given (several nodes), else in-process memory (one node)."""
    if redis_url is None:
        return MemoryStore()
    return RedisStore.from_url(redis_url, node_ttl_s=node_ttl_s)
