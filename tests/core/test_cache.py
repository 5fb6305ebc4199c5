"""Both caches behave alike: JSON values, expiry, prefix clearing, hit counts, the async byte path."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import pytest

from leadscore.core.cache import MemoryCache, RedisCache

REDIS_URL = os.environ.get("LEADSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["memory", "redis"])
def cache(request):
    if request.param == "memory":
        made = MemoryCache(max_entries=3)
    else:
        made = RedisCache(REDIS_URL, namespace=f"leadscore-test-{uuid.uuid4().hex[:8]}:")
    yield made
    made.clear_prefix("")
    made.close()


def test_values_round_trip_and_count_hits(cache):
    assert cache.get("score:1") is None
    cache.set("score:1", {"score": 71, "reasons": ["Viewed 14 listings"], "p": 0.5})
    assert cache.get("score:1") == {"score": 71, "reasons": ["Viewed 14 listings"], "p": 0.5}
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_async_path_returns_the_stored_json_bytes(cache):
    cache.set("score:2", {"score": 12, "grade": "D"})

    async def read():
        return await cache.aget_json("score:2"), await cache.aget_json("score:404")

    raw, missing = asyncio.run(read())
    assert json.loads(raw) == {"score": 12, "grade": "D"} and missing is None


def test_delete_and_clear_prefix(cache):
    cache.set("score:1", {"a": 1})
    cache.set("score:2", {"a": 2})
    cache.set("model:1", {"a": 3})
    cache.delete("score:1")
    assert cache.get("score:1") is None and cache.get("score:2") == {"a": 2}
    cache.clear_prefix("score:")
    assert cache.get("score:2") is None and cache.get("model:1") == {"a": 3}


def test_entries_expire(cache):
    cache.set("short", {"a": 1}, ttl=1)
    assert cache.get("short") == {"a": 1}
    time.sleep(1.2 if isinstance(cache, MemoryCache) else 2.1)
    assert cache.get("short") is None


def test_memory_cache_evicts_the_least_recently_used():
    cache = MemoryCache(max_entries=2)
    cache.set("a", {"v": 1})
    cache.set("b", {"v": 2})
    cache.get("a")
    cache.set("c", {"v": 3})
    assert cache.get("b") is None and cache.get("a") == {"v": 1}


def test_a_shared_cache_is_warmed_by_one_process_at_a_time(cache):
    if isinstance(cache, MemoryCache):
        assert cache.claim_warm_up() and cache.claim_warm_up()  # per process: always
    else:
        other = RedisCache(REDIS_URL, namespace=cache.namespace)
        assert cache.claim_warm_up() and not other.claim_warm_up()
        other.close()


def test_concurrent_async_reads_each_get_their_own_value(cache):
    for n in range(3):  # the memory cache here holds 3
        cache.set(f"score:{n}", {"score": n})

    async def read():
        return await asyncio.gather(*(cache.aget_json(f"score:{n}") for n in (2, 0, 9, 1, 8)))

    found = asyncio.run(read())
    assert [None if raw is None else json.loads(raw)["score"] for raw in found] == [2, 0, None, 1, None]
    assert (cache.hits, cache.misses) == (3, 2)


def test_a_shared_cache_answers_concurrent_reads_with_one_round_trip():
    cache = RedisCache(REDIS_URL, namespace=f"leadscore-test-{uuid.uuid4().hex[:8]}:")
    try:
        cache.set("score:1", {"score": 1})

        async def read():
            return await asyncio.gather(*(cache.aget_json("score:1") for _ in range(100)))

        assert len(set(asyncio.run(read()))) == 1
        assert (cache._reads.batches, cache._reads.items) == (1, 100)
    finally:
        cache.clear_prefix("")
        cache.close()
