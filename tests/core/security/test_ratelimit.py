"""Per-key rate limits: 429 with Retry-After and RateLimit-* headers, shared through Redis."""

from __future__ import annotations

import pytest

from leadscore.core.problems import PROBLEM_JSON
from leadscore.core.security.ratelimit import AsyncRateLimiter, RateLimiter, limits_uri
from tests.core.security.conftest import bearer, serve

# The database only stores the keys here; SQLite is enough (test_keys/test_usage run both).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _exhaust(client, key, allowed: int) -> None:
    for n in range(allowed):
        response = client.get("/v1/probe/any", headers=bearer(key))
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-limit"] == str(allowed)
        assert response.headers["ratelimit-remaining"] == str(allowed - n - 1)
        assert int(response.headers["ratelimit-reset"]) >= 0
        assert response.headers["ratelimit-policy"] == f'"default";q={allowed};w=60'
        assert "retry-after" not in response.headers


def _assert_429(response, allowed: int) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM_JSON
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-limit"] == str(allowed)
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.headers["ratelimit"].startswith('"default";r=0;t=')
    body = response.json()
    assert body["status"] == 429 and f"{allowed}/minute" in body["detail"]
    # The header appears once even though both the problem and the middleware know it.
    assert len(response.headers.get_list("ratelimit-limit")) == 1


@SQLITE_ONLY
@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_429_after_the_per_key_limit(settings, issue_key, request, storage):
    if storage == "redis":
        target = request.getfixturevalue("redis_target")
        settings = settings.model_copy(update={"redis_url": target.url})
    key = issue_key("read", rate_limit="3/minute")
    other = issue_key("read")  # default rate, untouched by the first key's traffic
    if storage == "redis":
        target.track(key.row.prefix)
        target.track(other.row.prefix)
    with serve(settings) as client:
        _exhaust(client, key, 3)
        _assert_429(client.get("/v1/probe/read", headers=bearer(key)), 3)
        assert client.get("/v1/probe/read", headers=bearer(other)).status_code == 200
        assert client.get("/healthz").status_code == 200  # health is never limited


@SQLITE_ONLY
def test_default_rate_comes_from_settings(settings, issue_key):
    key = issue_key("read")
    with serve(settings.model_copy(update={"rate_limit": "2/minute"})) as client:
        _exhaust(client, key, 2)
        _assert_429(client.get("/v1/probe/read", headers=bearer(key)), 2)


@SQLITE_ONLY
def test_redis_shares_the_limit_between_two_app_instances(settings, issue_key, redis_target):
    shared = settings.model_copy(update={"redis_url": redis_target.url})
    key = issue_key("read", rate_limit="4/minute")
    redis_target.track(key.row.prefix)
    with serve(shared) as first, serve(shared) as second:
        assert first.get("/v1/probe/read", headers=bearer(key)).status_code == 200
        assert second.get("/v1/probe/read", headers=bearer(key)).headers["ratelimit-remaining"] == "2"
        assert first.get("/v1/probe/read", headers=bearer(key)).status_code == 200
        assert second.get("/v1/probe/read", headers=bearer(key)).status_code == 200
        _assert_429(first.get("/v1/probe/read", headers=bearer(key)), 4)
        _assert_429(second.get("/v1/probe/read", headers=bearer(key)), 4)


@SQLITE_ONLY
def test_memory_storage_is_per_instance(settings, issue_key):
    key = issue_key("read", rate_limit="2/minute")
    with serve(settings) as first, serve(settings) as second:
        for client in (first, second):
            assert [client.get("/v1/probe/read", headers=bearer(key)).status_code for _ in range(3)] == [200, 200, 429]


@pytest.fixture(params=["memory", "redis"])
def limiter(request, namespace):  # noqa: ANN001, ANN201
    """A RateLimiter on in-process memory or on the test Redis (its keys under ``namespace``, removed)."""
    url = None
    if request.param == "redis":
        target = request.getfixturevalue("redis_target")
        target.track(namespace)
        url = target.url
    limiter = RateLimiter(url, key_prefix=namespace)
    yield limiter
    limiter.close()


def test_limiter_sliding_window(limiter, request):
    decisions = [limiter.hit("k1", "2/second") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [d.remaining for d in decisions] == [1, 0, 0]
    assert decisions[2].headers()["Retry-After"] == "1"
    assert limiter.hit("k2", "2/second").allowed  # identities are independent
    assert limiter.shared is (request.node.callspec.params["limiter"] == "redis")


def test_peek_tells_where_an_identity_stands_without_counting(limiter):
    assert [limiter.peek("k1", "2/minute").remaining for _ in range(3)] == [2, 2, 2]
    limiter.hit("k1", "2/minute")
    limiter.hit("k1", "2/minute")
    refused = limiter.peek("k1", "2/minute")
    assert not refused.allowed and refused.remaining == 0 and 1 <= refused.reset_seconds <= 60
    assert limiter.peek("k2", "2/minute").allowed


def test_async_limiter_on_redis_counts_like_the_sync_one(redis_target, namespace):
    import asyncio

    redis_target.track(namespace)
    limiter = AsyncRateLimiter(redis_target.url, key_prefix=namespace)

    async def hits():
        return [await limiter.ahit("k1", "2/second") for _ in range(3)]

    try:
        decisions = asyncio.run(hits())
        assert [d.allowed for d in decisions] == [True, True, False]
        assert [d.remaining for d in decisions] == [1, 0, 0]
        assert not limiter.hit("k1", "2/second").allowed  # one allowance, both clients
    finally:
        limiter.close()


def test_async_limiter_fails_open_when_redis_is_down(caplog):
    import asyncio

    limiter = AsyncRateLimiter("redis://127.0.0.1:1/0")
    decision = asyncio.run(limiter.ahit("k", "1/minute"))
    assert decision.allowed and decision.remaining == 1
    assert "rate-limit storage unavailable" in caplog.text


def test_unreachable_redis_fails_open(caplog):
    limiter = RateLimiter("redis://127.0.0.1:1/0")
    decision = limiter.hit("k", "1/minute")
    assert decision.allowed and decision.remaining == 1
    assert limiter.peek("k", "1/minute").allowed
    assert "rate-limit storage unavailable" in caplog.text


def test_unix_socket_urls_are_translated():
    assert limits_uri(None) == "memory://"
    assert limits_uri("unix:///run/redis.sock") == "redis+unix:///run/redis.sock"
    assert limits_uri("rediss://h:6380/1") == "rediss://h:6380/1"


def test_in_process_limiter_does_not_start_a_thread_per_request(monkeypatch):
    # limits' MemoryStorage started a 10 ms sweeper thread on nearly every hit, and starting a
    # thread holds the API's event loop until it runs.
    import threading
    import time

    started: list[threading.Thread] = []
    original = threading.Thread.start

    def counting(thread: threading.Thread) -> None:
        started.append(thread)
        original(thread)

    limiter = RateLimiter(None)
    monkeypatch.setattr(threading.Thread, "start", counting)
    for _ in range(200):
        assert limiter.hit("quiet", "1000/second").allowed
        time.sleep(0.002)  # longer than the old sweeper's life: each hit would start a new one
    assert len(started) <= 1
    # Counters still expire: a spent one-second window is available again after it.
    for _ in range(3):
        limiter.hit("spent", "3/second")
    assert not limiter.hit("spent", "3/second").allowed
    time.sleep(2.1)
    assert limiter.hit("spent", "3/second").allowed
    limiter.close()


def test_async_limiter_admits_exactly_the_limit_of_a_concurrent_burst(redis_target, namespace):
    import asyncio

    redis_target.track(namespace)
    limiter = AsyncRateLimiter(redis_target.url, key_prefix=namespace)

    async def burst():
        first = await asyncio.gather(*(limiter.ahit("k2", "5/minute") for _ in range(8)))
        other = await asyncio.gather(*(limiter.ahit("k3", "5/minute") for _ in range(3)))
        return first, other

    try:
        decisions, other = asyncio.run(burst())
        # One batch: the 8 together do not fit, so the first 5 are admitted and the rest refused,
        # with the headers 8 single hits in a row would give.
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
        assert all(int(d.headers()["Retry-After"]) >= 1 for d in decisions[5:])
        assert [d.remaining for d in other] == [4, 3, 2]  # another key, its own allowance
        assert not limiter.hit("k2", "5/minute").allowed  # and Redis holds the count
        assert limiter._hits.batches == 2
    finally:
        limiter.close()


def test_a_refusal_never_says_it_resets_now():
    """Near a window boundary the library's reset estimate can be 0 (it failed CI once);
    a refused decision says at least 1 s, an allowed one may say 0."""
    import time

    from limits import parse
    from limits.util import WindowStats

    from leadscore.core.security.ratelimit import _decision

    item = parse("2/minute")
    assert _decision(item, False, WindowStats(time.time() - 0.5, 0)).reset_seconds == 1
    assert _decision(item, True, WindowStats(time.time() - 0.5, 2)).reset_seconds == 0


def test_in_process_limiter_counts_the_hits_of_one_loop_turn_together_as_single_hits_would():
    import asyncio

    limiter = RateLimiter(None)
    counted: list[int] = []
    hit = limiter.strategy.hit

    def counting_hit(item, identity, cost=1):  # noqa: ANN001
        counted.append(cost)
        return hit(item, identity, cost=cost)

    limiter.strategy.hit = counting_hit

    async def burst():
        first = await asyncio.gather(*(limiter.ahit("k2", "5/minute") for _ in range(8)))
        other = await asyncio.gather(*(limiter.ahit("k3", "5/minute") for _ in range(3)))
        alone = await limiter.ahit("k4", "2/minute")
        return first, other, alone

    try:
        decisions, other, alone = asyncio.run(burst())
        # The 8 together do not fit: the first 5 are admitted and the rest refused, with the
        # headers 8 single hits in a row would give.
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
        assert all(int(d.headers()["Retry-After"]) >= 1 for d in decisions[5:])
        assert [d.remaining for d in other] == [4, 3, 2]  # another key, its own allowance
        assert alone.allowed and alone.remaining == 1
        assert counted == [8, 5, 3, 1]  # a hit per key and turn (8 refused whole, then the 5 that fit)
        assert not limiter.hit("k2", "5/minute").allowed
    finally:
        limiter.close()
