"""Cache for scores and other hot reads: Redis when configured, else in-process.

Both count hits and misses so the hit rate can be exported as a metric.
Values are JSON-serialisable dicts.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol


class Cache(Protocol):
    hits: int
    misses: int

    def get(self, key: str) -> dict[str, Any] | None: ...
    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None: ...
    def delete(self, *keys: str) -> None: ...
    def clear_prefix(self, prefix: str) -> None: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


class MemoryCache:
    """A thread-safe LRU with per-entry expiry."""

    def __init__(self, max_entries: int = 200_000, default_ttl: float | None = 3600.0) -> None:
        self.max_entries = max_entries
        self.default_ttl = default_ttl
        self._data: OrderedDict[str, tuple[float | None, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
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

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

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

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.namespace = namespace
        self.default_ttl = default_ttl
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._redis.get(self.namespace + key)
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(raw)

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        self._redis.set(self.namespace + key, json.dumps(value, default=str), ex=None if ttl is None else int(ttl))

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


def make_cache(redis_url: str | None) -> Cache:
    return RedisCache(redis_url) if redis_url else MemoryCache()
