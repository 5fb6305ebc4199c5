"""Cache for scores and other hot reads: Redis when configured, else in-process.

Both count hits and misses so the hit rate can be exported as a metric.
Values are JSON-serialisable dicts, kept as their JSON text: the API's hot
path (``aget_json``) answers with those bytes as they are, without parsing
and re-serialising, and ``get`` parses them for everyone else.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from leadscore.core.coalesce import Coalescer


class Cache(Protocol):
    hits: int
    misses: int

    def get(self, key: str) -> dict[str, Any] | None: ...
    async def aget_json(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None: ...
    def add_many(self, values: dict[str, dict[str, Any]], ttl: float | None = None) -> int: ...
    def claim_warm_up(self) -> bool: ...
    def delete(self, *keys: str) -> None: ...
    def clear_prefix(self, prefix: str) -> None: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


class MemoryCache:
    """A thread-safe LRU with per-entry expiry."""

    def __init__(self, max_entries: int = 200_000, default_ttl: float | None = 3600.0) -> None:
        self.max_entries = max_entries
        self.default_ttl = default_ttl
        self._data: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_json(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or (item[0] is not None and item[0] < time.monotonic()):
                if item is not None:
                    del self._data[key]
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[1]

    async def aget_json(self, key: str) -> bytes | None:
        return self.get_json(key)  # a dict lookup: no reason to leave the event loop

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.get_json(key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        expires = None if ttl is None else time.monotonic() + ttl
        raw = dumps(value)  # serialised once, outside the lock
        with self._lock:
            self._data[key] = (expires, raw)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def add_many(self, values: dict[str, dict[str, Any]], ttl: float | None = None) -> int:
        """Store each value whose key is absent (a newer value set meanwhile wins); returns how many."""
        ttl = self.default_ttl if ttl is None else ttl
        expires = None if ttl is None else time.monotonic() + ttl
        encoded = [(key, dumps(value)) for key, value in values.items()]
        added = 0
        with self._lock:
            for key, raw in encoded:
                if key not in self._data and len(self._data) < self.max_entries:
                    self._data[key] = (expires, raw)
                    added += 1
        return added

    def claim_warm_up(self) -> bool:
        return True  # this process's own cache: always worth filling

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def clear_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._data if k.startswith(prefix)]:
                del self._data[key]

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


class RedisCache:
    """Shared across API workers and machines; hit counters are per process."""

    def __init__(self, url: str, *, namespace: str = "leadscore:", default_ttl: float | None = 3600.0) -> None:
        import redis

        self.url = url
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        # redis.asyncio clients belong to the event loop that first used them:
        # one per loop (uvicorn has one; each test client brings its own).
        self._async: dict[int, Any] = {}
        self.namespace = namespace
        self.default_ttl = default_ttl
        self.hits = 0
        self.misses = 0
        # Reads waiting at the same moment share one MGET (core.coalesce says why).
        self._reads: Coalescer[str, bytes | None] = Coalescer(self._mget)

    def _count(self, raw: bytes | None) -> bytes | None:
        if raw is None:
            self.misses += 1
        else:
            self.hits += 1
        return raw

    def get_json(self, key: str) -> bytes | None:
        return self._count(self._redis.get(self.namespace + key))

    async def aget_json(self, key: str) -> bytes | None:
        return self._count(await self._reads.submit(self.namespace + key))

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        return await self._async_client().mget(keys)

    def _async_client(self) -> Any:
        import asyncio

        import redis.asyncio

        loop_id = id(asyncio.get_running_loop())
        client = self._async.get(loop_id)
        if client is None:
            client = self._async[loop_id] = redis.asyncio.Redis(connection_pool=async_redis_pool(self.url))
        return client

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.get_json(key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        self._redis.set(self.namespace + key, dumps(value), ex=None if ttl is None else int(ttl))

    def add_many(self, values: dict[str, dict[str, Any]], ttl: float | None = None) -> int:
        """Store each value whose key is absent (SET NX: a newer value set meanwhile wins)."""
        ttl = self.default_ttl if ttl is None else ttl
        pipe = self._redis.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(self.namespace + key, dumps(value), ex=None if ttl is None else int(ttl), nx=True)
        return sum(1 for ok in pipe.execute() if ok)

    def claim_warm_up(self) -> bool:
        """True for the first caller per half TTL: entries warmed earlier are still there."""
        ttl = int(self.default_ttl / 2) if self.default_ttl else 1800
        return bool(self._redis.set(self.namespace + "warm-up", b"1", ex=max(1, ttl), nx=True))

    def delete(self, *keys: str) -> None:
        if keys:
            self._redis.delete(*(self.namespace + k for k in keys))

    def clear_prefix(self, prefix: str) -> None:
        batch = []
        for key in self._redis.scan_iter(match=f"{self.namespace}{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self._redis.delete(*batch)
                batch = []
        if batch:
            self._redis.delete(*batch)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except Exception:
            return False

    def close(self) -> None:
        self._redis.close()
        self._async.clear()  # their loops are closing too; the sockets go with them


def async_redis_pool(url: str, *, max_connections: int = 256) -> Any:
    """A bounded pool for redis.asyncio: 1,000 concurrent requests share 256 connections.

    The default pool opens a connection per concurrent caller without limit, and
    opening one is costly (redis-py reads package metadata for each): under load
    that cost dominated a cached read. Callers past the limit wait (up to 2 s). With
    64, a saturated event loop (each await lasting a loop iteration, tens of ms) held
    every connection and waiting callers timed out; the bound only needs to cap growth.
    """
    import redis.asyncio

    return redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=2, socket_timeout=2, socket_connect_timeout=2)


def dumps(value: dict[str, Any]) -> bytes:
    """Compact JSON, the form the API sends; datetimes and the like as strings."""
    return json.dumps(value, default=str, separators=(",", ":")).encode()


def make_cache(redis_url: str | None) -> Cache:
    return RedisCache(redis_url) if redis_url else MemoryCache()
