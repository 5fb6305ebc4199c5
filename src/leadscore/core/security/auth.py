"""Who is calling: API-key authentication, scope checks and the rate limit, as dependencies.

Use in any router::

    from leadscore.core.security import Principal, require_scope

    @router.get("/leads")
    def list_leads(principal: Annotated[Principal, Depends(require_scope("read"))]): ...

or, when the principal is not needed, ``APIRouter(dependencies=[Depends(require_scope("read"))])``.

Keys arrive as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A
missing or malformed key is a 401 with ``WWW-Authenticate: Bearer``; an unknown,
revoked or expired key a 401 saying which; a valid key without the scope a 403;
a key over its rate a 429. The order is authenticate, count against the rate,
then check the scope, so refused calls still cost quota.

Speed: a validated key is cached in-process for ``LEADSCORE_KEY_CACHE_SECONDS``
(30 s) by its HMAC, so the hot path is one HMAC, one dict lookup and the
rate-limit hit; misses (and unknown keys, cached negatively) cost one indexed
lookup by prefix, run off the event loop. Revoking through the API drops the
key from this process's cache at once; other processes (another worker, or
the CLI revoking) stop accepting it within the TTL. Expiry is checked on
every request, cached or not. The dict lookup by HMAC is not constant-time,
but what it could leak is a keyed hash an attacker cannot invert; the stored
hash is compared with ``hmac.compare_digest``.

``require_scope`` is cached per scope, so tests can replace authentication
with ``app.dependency_overrides[require_scope("read")] = lambda: principal``.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from leadscore.core.config import Settings
from leadscore.core.database import utcnow
from leadscore.core.problems import Problem
from leadscore.core.security.keys import find_by_prefix, hash_key, resolve_pepper, split_key
from leadscore.core.security.ratelimit import AsyncRateLimiter, RateDecision, RateLimiter
from leadscore.core.security.scopes import Scope, effective
from leadscore.core.security.usage import UsageRecorder

CONTEXT_KEY = "leadscore.security"
CACHE_MAX_ENTRIES = 10_000

bearer_scheme = HTTPBearer(
    scheme_name="BearerKey",
    description="An API key as a bearer token: `Authorization: Bearer ls_<prefix>_<secret>`.",
    auto_error=False,
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKeyHeader",
    description="The same API key in the `X-API-Key` header.",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The API key a request was made with."""

    key_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit: str
    expires_at: datetime | None = None
    effective_scopes: frozenset[Scope] = field(default=frozenset(), compare=False)

    def allows(self, scope: str) -> bool:
        return scope in self.effective_scopes

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()


@dataclass(slots=True)
class RequestContext:
    """Per-request state shared by the dependency and ``SecurityMiddleware``."""

    principal: Principal | None = None
    decision: RateDecision | None = None


def _unauthorized(detail: str, *, invalid: bool = True) -> Problem:
    challenge = 'Bearer realm="leadscore"'
    if invalid:
        challenge += ', error="invalid_token"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


class KeyCache:
    """HMAC -> (valid until, Principal or refusal detail); a small thread-safe LRU."""

    def __init__(self, ttl: float, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, Principal | str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | str | None:
        with self._lock:
            item = self._data.get(key_hash)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key_hash]
                return None
            return item[1]

    def put(self, key_hash: str, value: Principal | str) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._data[key_hash] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key_hash)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def invalidate(self, key_id: int) -> None:
        with self._lock:
            for key_hash in [h for h, (_, v) in self._data.items() if isinstance(v, Principal) and v.key_id == key_id]:
                del self._data[key_hash]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class Guard:
    """The per-app security services: key lookup and cache, rate limiter, usage counters."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.pepper = resolve_pepper(settings)
        self.cache = KeyCache(settings.key_cache_seconds)
        self.limiter = AsyncRateLimiter(settings.redis_url) if settings.redis_url else RateLimiter(None)
        self.usage = UsageRecorder(sessions, interval=settings.usage_flush_seconds)
        self._loading: dict[str, asyncio.Future[Principal | str]] = {}  # key lookups in flight
        # The HMAC of each key presented lately: computing it was a twentieth of a cached-score
        # request. It holds presented keys in memory as the key cache's validity does, in this
        # process only, and never for a key refused as malformed (split_key first).
        self._hash = lru_cache(maxsize=CACHE_MAX_ENTRIES)(partial(hash_key, self.pepper))

    @classmethod
    def open(cls, settings: Settings, sessions: sessionmaker[Session]) -> Guard:
        guard = cls(settings, sessions)
        guard.usage.start()
        return guard

    def close(self) -> None:
        self.usage.stop()
        self.limiter.close()

    def _load(self, prefix: str, key_hash: str) -> Principal | str:
        with self.sessions() as session:
            row = find_by_prefix(session, prefix)
        if row is None or not hmac.compare_digest(row.secret_hash, key_hash):
            return "the API key is not valid"
        if row.revoked_at is not None:
            return f"the API key {row.prefix} was revoked at {row.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        return Principal(
            key_id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=tuple(row.scopes or ()),
            rate_limit=row.rate_limit or self.settings.rate_limit,
            expires_at=row.expires_at,
            effective_scopes=effective(row.scopes or ()),
        )

    async def authenticate(self, key: str) -> Principal:
        prefix = split_key(key)
        if prefix is None:
            raise _unauthorized("the API key is malformed: expected ls_<prefix>_<secret>")
        key_hash = self._hash(key)
        found = self.cache.get(key_hash)
        if found is None:
            found = await self._load_once(prefix, key_hash)
        if isinstance(found, str):
            raise _unauthorized(found)
        if found.expired():
            raise _unauthorized(f"the API key {found.prefix} expired at {found.expires_at:%Y-%m-%dT%H:%M:%SZ}")
        return found

    async def _load_once(self, prefix: str, key_hash: str) -> Principal | str:
        """Look the key up once however many requests miss it together, and cache the answer.

        When a busy key's cache entry expires, every request in flight misses at the same moment
        (a thousand under the benchmark), and each ran the same query on the thread pool."""
        loop = asyncio.get_running_loop()
        pending = self._loading.get(key_hash)
        if pending is None or pending.get_loop() is not loop:  # futures belong to one event loop

            async def load() -> Principal | str:
                try:
                    found = await run_in_threadpool(self._load, prefix, key_hash)
                    self.cache.put(key_hash, found)
                    return found
                finally:
                    self._loading.pop(key_hash, None)

            pending = self._loading[key_hash] = loop.create_task(load())
        return await asyncio.shield(pending)  # a waiter that goes away does not cancel the others' lookup

    def cached_principal(self, key: str) -> Principal | None:
        """The key's principal when this process already validated it and it is still good; else None.

        For hot paths that answer without the framework: None means "go the normal way",
        which loads the key, or explains why it is refused."""
        if split_key(key) is None:
            return None
        found = self.cache.get(self._hash(key))
        if not isinstance(found, Principal) or found.expired():
            return None
        return found

    async def limit(self, principal: Principal) -> RateDecision:
        # Awaited on both: Redis round trips, and in process the hits of one loop turn together.
        return await self.limiter.ahit(principal.prefix, principal.rate_limit)


def get_guard(request: Request) -> Guard:
    guard = getattr(request.app.state, "security", None)
    if guard is None:  # a wiring bug, not a client error
        raise RuntimeError("security is not initialised (create the app with leadscore.app.create_app)")
    return guard


def _read_key(authorization: str | None, api_key: str | None) -> str | Problem:
    """The key from the two headers we accept, or the 401 that explains why there is none."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _unauthorized("the Authorization header must be 'Bearer <API key>'")
        return value.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return _unauthorized(
        "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", invalid=False
    )


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key in raw ASGI headers, read as the dependency reads it; None if absent or malformed."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    found = _read_key(authorization, api_key)
    return None if isinstance(found, Problem) else found


def _presented_key(request: Request) -> str:
    found = _read_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    if isinstance(found, Problem):
        raise found
    return found


def rate_limited(principal: Principal, decision: RateDecision) -> Problem:
    return Problem(
        429,
        f"rate limit of {principal.rate_limit} exceeded for key {principal.prefix}; "
        f"retry in {max(1, decision.reset_seconds)} s",
        headers=decision.headers(),
    )


async def authorize(request: Request, scope: str | None) -> Principal:
    """Authenticate once per request, apply the rate limit, then check ``scope``."""
    context: RequestContext | None = request.scope.get(CONTEXT_KEY)
    if context is None:  # no SecurityMiddleware (a bare test app): keep state on the request
        context = request.scope[CONTEXT_KEY] = RequestContext()
    principal = context.principal
    if principal is None:
        guard = get_guard(request)
        principal = await guard.authenticate(_presented_key(request))
        decision = await guard.limit(principal)
        context.principal, context.decision = principal, decision
        if not decision.allowed:
            raise rate_limited(principal, decision)
    if scope is not None and not principal.allows(scope):
        granted = ", ".join(principal.scopes) or "none"
        raise Problem(403, f"this operation needs the '{scope}' scope; the key has: {granted}")
    return principal


@lru_cache(maxsize=None)
def require_scope(scope: str | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting keys whose scopes include ``scope`` (None: any valid key)."""
    if scope is not None:
        scope = Scope(scope).value  # a typo fails when the router is defined, not at request time

    async def dependency(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        _header: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Principal:
        return await authorize(request, scope)

    dependency.__name__ = f"require_scope_{scope or 'any'}"
    dependency.required_scope = scope  # type: ignore[attr-defined]  # read by tests and docs
    return dependency


def require_key() -> Callable[..., Awaitable[Principal]]:
    """Any valid, unexpired, unrevoked key, whatever its scopes."""
    return require_scope(None)


ReadKey = Annotated[Principal, Depends(require_scope("read"))]
WriteKey = Annotated[Principal, Depends(require_scope("write"))]
ScoreKey = Annotated[Principal, Depends(require_scope("score"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
AnyKey = Annotated[Principal, Depends(require_scope(None))]


def context_of(scope: dict[str, Any]) -> RequestContext | None:
    return scope.get(CONTEXT_KEY)
