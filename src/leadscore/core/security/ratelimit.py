"""Per-key rate limits with the ``limits`` library, shared through Redis when configured.

Strategy: **sliding window counter**, not a literal token bucket. ``limits``
offers fixed window, moving window and sliding window counter; none is a
token bucket. The sliding window counter is the closest in behaviour: like a
bucket refilling at ``rate/period``, capacity comes back gradually (the
previous window's count is weighted down as time passes) instead of all at
once at a window edge, so there is no 2x burst at the boundary that a fixed
window allows. It needs O(1) storage per key (two counters) and one atomic
Lua script per hit on Redis, where the moving window keeps one entry per
request (600 list items per key at 600/minute). The price: the count is an
approximation that assumes the previous window's requests were spread evenly,
and a client cannot save up unused quota beyond the limit itself (a bucket's
capacity equals its rate here).

Storage: ``memory://`` per process by default; ``LEADSCORE_REDIS_URL`` when
set, so every API worker and machine draws from the same allowance. The
identity is the key's public prefix, which is random per key, so installations
(or test runs) sharing a Redis never collide.

Headers on every authenticated response (IETF draft
``draft-ietf-httpapi-ratelimit-headers``): the widely deployed trio
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds
until at least one more request is available, 0 when nothing is in use) plus
the structured ``RateLimit-Policy: "default";q=600;w=60`` and
``RateLimit: "default";r=599;t=0`` of the later drafts. A refused request is a
429 problem with ``Retry-After`` in whole seconds (at least 1).

The API uses ``AsyncRateLimiter`` (``limits.aio`` over redis-py's asyncio
client) when the storage is Redis, so its round trips wait on the event loop
instead of holding a thread-pool slot, and the hits of one key waiting at the
same moment are counted as one hit of that cost (``core.coalesce``: two round
trips per batch, not per request); ``RateLimiter`` is the same policy in
process, where the API's hits of one event-loop turn are counted together the
same way (``RateLimiter.ahit``), and ``hit`` serves synchronous callers.

If Redis is unreachable the limiter fails open (the request passes and a
warning is logged once a minute): an outage of the counter store should not
take the whole API down with it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.util import WindowStats
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from leadscore.core.coalesce import Coalescer, TurnCoalescer
from leadscore.core.config import check_rate_limit

log = logging.getLogger(__name__)

REDIS_KEY_PREFIX = "leadscore:ratelimit"
POLICY_NAME = "default"


@lru_cache(maxsize=1024)
def parse_rate(rate: str) -> RateLimitItem:
    return parse(check_rate_limit(rate))


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f'"{POLICY_NAME}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{POLICY_NAME}";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


def limits_uri(redis_url: str | None) -> str:
    if not redis_url:
        return "memory://"
    # limits spells Redis over a Unix socket redis+unix://, the redis client unix://.
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def _decision(item: RateLimitItem, allowed: bool, stats: WindowStats, remaining: int | None = None) -> RateDecision:
    reset = max(0, math.ceil(stats.reset_time - time.time()))
    if not allowed:
        # A refusal never resets "now": near a window boundary limits' estimate rounds to 0
        # (seen under CI), and RateLimit-Reset: 0 on a 429 tells a client to retry at once.
        reset = max(1, reset)
    remaining = stats.remaining if remaining is None else remaining
    return RateDecision(allowed, item.amount, max(0, remaining), reset, int(item.get_expiry()))


class QuietMemoryStorage(MemoryStorage):
    """``limits``' in-process storage, sweeping expired counters at most once a second.

    Why: ``MemoryStorage`` starts a new 10 ms ``threading.Timer`` on any hit that finds the last
    one finished, so under steady traffic every request or so started a thread; starting one
    waits for it to run, which held the API's event loop (~15 % of its time in a profile under
    load). The sweep only frees memory: reads already drop expired counters themselves.
    """

    SWEEP_EVERY = 1.0

    def __init__(self) -> None:
        self._swept_at = time.monotonic()
        super().__init__()

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the private per-hit scheduler
        now = time.monotonic()
        if now - self._swept_at >= self.SWEEP_EVERY and not self.timer.is_alive():
            self._swept_at = now
            self.timer = threading.Timer(0.01, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


class RateLimiter:
    def __init__(self, redis_url: str | None = None, *, key_prefix: str = REDIS_KEY_PREFIX) -> None:
        uri = limits_uri(redis_url)
        self.shared = uri != "memory://"
        options: dict[str, float | str | bool] = {}
        if self.shared:
            options = {"key_prefix": key_prefix, "socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        self.storage = storage_from_string(uri, **options) if self.shared else QuietMemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._warned_at = 0.0

    def hit(self, identity: str, rate: str) -> RateDecision:
        """Count one request for ``identity`` against ``rate`` and say whether it may pass."""
        item = parse_rate(rate)
        try:
            allowed = self.strategy.hit(item, identity)
            stats = self.strategy.get_window_stats(item, identity)
        except Exception as exc:  # storage outage: fail open, loudly but not per request
            return self._fail_open(item, exc)
        return _decision(item, allowed, stats)

    async def ahit(self, identity: str, rate: str) -> RateDecision:
        """As ``hit``, for a request on an event loop: the hits of one loop turn are counted
        together (``core.coalesce.TurnCoalescer``), one hit of cost ``n`` per key.

        Why: a hit costs ~11 µs of ``limits``' in-process storage (two lookups, key formatting,
        a lock), and under load it was an eighth of the API's event loop in the stateless-scoring
        benchmark (py-spy); waiting for the end of the turn costs ~2 µs."""
        return await self._turn_hits.submit((identity, rate))

    @functools.cached_property
    def _turn_hits(self) -> TurnCoalescer[tuple[str, str], RateDecision]:
        return TurnCoalescer(lambda requests: _by_key(requests, self.hit_group))

    def hit_group(self, identity: str, rate: str, n: int) -> list[RateDecision]:
        """``n`` requests of one key, in arrival order: what ``n`` single hits in a row would give.

        One hit of cost ``n`` when they all fit; the i-th (from 0) sees ``n - 1 - i`` more
        remaining than the last. When they do not all fit, none was counted; the first
        ``remaining`` are admitted with one more hit and the rest refused.
        """
        item = parse_rate(rate)
        strategy = self.strategy
        try:
            if strategy.hit(item, identity, cost=n):
                return _admitted(item, n, strategy.get_window_stats(item, identity))
            stats = strategy.get_window_stats(item, identity)
            fit = min(n - 1, stats.remaining)
            if fit > 0 and strategy.hit(item, identity, cost=fit):
                return _partly(item, n, fit, strategy.get_window_stats(item, identity))
        except Exception as exc:  # storage outage: fail open, as ``hit`` does
            return [self._fail_open(item, exc)] * n
        return [_decision(item, False, stats)] * n

    def peek(self, identity: str, rate: str) -> RateDecision:
        """Where ``identity`` stands against ``rate``, without counting a request."""
        item = parse_rate(rate)
        try:
            stats = self.strategy.get_window_stats(item, identity)
        except Exception as exc:  # storage outage: fail open, as ``hit`` does
            return self._fail_open(item, exc)
        return _decision(item, stats.remaining > 0, stats)

    def clear(self, identity: str, rate: str) -> None:
        self.strategy.clear(parse_rate(rate), identity)

    def _fail_open(self, item: RateLimitItem, exc: Exception) -> RateDecision:
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning("rate-limit storage unavailable, not limiting: %s", exc)
        return RateDecision(True, item.amount, item.amount, 0, int(item.get_expiry()))

    def close(self) -> None:
        timer = getattr(self.storage, "timer", None)  # MemoryStorage's expiry thread
        if timer is not None:
            timer.cancel()


class AsyncRateLimiter(RateLimiter):
    """The same limits on a shared Redis, awaited instead of blocking a thread.

    Its connections belong to the event loop of the first ``ahit``: create it
    where it is used (the app's lifespan).
    """

    def __init__(self, redis_url: str, *, key_prefix: str = REDIS_KEY_PREFIX) -> None:
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindow

        super().__init__(redis_url, key_prefix=key_prefix)  # the sync side, for clear()
        from leadscore.core.cache import async_redis_pool

        pool = async_redis_pool(redis_url)
        self.async_storage = RedisStorage("async+" + limits_uri(redis_url), implementation="redispy",
                                          key_prefix=key_prefix, connection_pool=pool)
        self.async_strategy = AsyncSlidingWindow(self.async_storage)
        self._hits: Coalescer[tuple[str, str], RateDecision] = Coalescer(self._hit_batch)

    async def ahit(self, identity: str, rate: str) -> RateDecision:
        """As ``hit``; hits waiting at the same moment share round trips (``core.coalesce``)."""
        return await self._hits.submit((identity, rate))

    async def _hit_batch(self, requests: list[tuple[str, str]]) -> list[RateDecision]:
        groups = _groups(requests)
        decided = await asyncio.gather(*(self._hit_group(identity, rate, len(indexes))
                                         for (identity, rate), indexes in groups.items()))
        return _ungroup(len(requests), groups, decided)

    async def _hit_group(self, identity: str, rate: str, n: int) -> list[RateDecision]:
        """``hit_group`` on Redis, awaited."""
        item = parse_rate(rate)
        strategy = self.async_strategy
        try:
            if await strategy.hit(item, identity, cost=n):
                return _admitted(item, n, await strategy.get_window_stats(item, identity))
            stats = await strategy.get_window_stats(item, identity)
            fit = min(n - 1, stats.remaining)
            if fit > 0 and await strategy.hit(item, identity, cost=fit):
                return _partly(item, n, fit, await strategy.get_window_stats(item, identity))
        except Exception as exc:
            return [self._fail_open(item, exc)] * n
        return [_decision(item, False, stats)] * n


def _admitted(item: RateLimitItem, n: int, stats: WindowStats) -> list[RateDecision]:
    """All ``n`` counted by one hit: the i-th saw ``n - 1 - i`` more remaining than the last."""
    return [_decision(item, True, stats, stats.remaining + n - 1 - i) for i in range(n)]


def _partly(item: RateLimitItem, n: int, fit: int, stats: WindowStats) -> list[RateDecision]:
    """The first ``fit`` of ``n`` counted by one hit, the rest refused."""
    return ([_decision(item, True, stats, stats.remaining + fit - 1 - i) for i in range(fit)]
            + [_decision(item, False, stats, 0)] * (n - fit))


Key = tuple[str, str]  # identity, rate


def _groups(requests: list[Key]) -> dict[Key, list[int]]:
    """Positions of each key's requests, in arrival order."""
    groups: dict[Key, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request, []).append(index)
    return groups


def _ungroup(size: int, groups: dict[Key, list[int]], decided: Sequence[list[RateDecision]]) -> list[RateDecision]:
    answers: list[RateDecision] = [None] * size  # type: ignore[list-item]
    for indexes, decisions in zip(groups.values(), decided, strict=True):
        for index, decision in zip(indexes, decisions, strict=True):
            answers[index] = decision
    return answers


def _by_key(requests: list[Key], hit_group: Callable[[str, str, int], list[RateDecision]]) -> list[RateDecision]:
    """One ``hit_group`` per key for a batch of (identity, rate) requests; answers in request order."""
    groups = _groups(requests)
    return _ungroup(len(requests), groups, [hit_group(identity, rate, len(indexes))
                                            for (identity, rate), indexes in groups.items()])
