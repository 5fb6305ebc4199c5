"""``GET /v1/leads/{id}/score`` answered from the cache below the framework, when nothing is unusual.

Why: it is the API's hottest call, and on a cache hit its own work is a dict or
Redis lookup; FastAPI's routing (matching the path against every route),
dependency solving and response machinery cost several times that. This pure
ASGI middleware, inside the metrics and security middleware, answers the
ordinary case itself: a GET of that path with a key this process has already
validated (same key cache, same expiry check), the read scope, a cached score,
and the key under its rate. Everything else — no key, an unknown or refused
key, another scope, a cache miss, an invalid id — goes to the FastAPI route,
which gives the documented answer or error. Both paths count the request
against the rate once, add the same rate-limit headers, record usage and
metrics under the route's template, and send the same bytes (tests compare).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from leadscore.core.cache import dumps
from leadscore.core.params import MAX_ID
from leadscore.core.problems import PROBLEM_JSON, problem_document
from leadscore.core.security.auth import CONTEXT_KEY, presented_key, rate_limited

PATH = re.compile(r"/v1/leads/([1-9][0-9]{0,9})/score")
# Set on a cache miss, so the route does not ask the cache a second time (one miss counted).
MISSED = "leadscore.score_cache_missed"


class CachedScoreMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = PATH.fullmatch(scope["path"])
            if match is not None and int(match[1]) <= MAX_ID and await self._answer(scope, int(match[1]), send):
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, lead_id: int, send: Send) -> bool:
        from leadscore.scoring.tasks import cache_key

        app = scope.get("app")
        state = getattr(app, "state", None)
        services, guard = getattr(state, "services", None), getattr(state, "security", None)
        context = scope.get(CONTEXT_KEY)
        if services is None or guard is None or context is None:
            return False
        key = presented_key(scope["headers"])
        principal = guard.cached_principal(key) if key else None
        if principal is None or not principal.allows("read"):
            return False
        try:
            raw = await services.cache.aget_json(cache_key(lead_id))
        except Exception:  # the cache is unreachable or saturated: the route answers (503)
            return False
        if raw is None:
            scope[MISSED] = True
            return False
        scope["path_params"] = {"lead_id": lead_id}
        from leadscore.scoring.api import get_score

        if await admit(scope, send, guard, principal, route_of(get_score)):
            await send_body(send, 200, "application/json", raw)
        return True


@functools.cache
def route_of(endpoint: Any) -> Any:
    """The scoring router's own APIRoute of ``endpoint``: what routing puts in ``scope["route"]``."""
    from leadscore.scoring.api import router

    return next(r for r in router.routes if getattr(r, "endpoint", None) is endpoint)


async def admit(scope: Scope, send: Send, guard: Any, principal: Any, route: Any) -> bool:
    """Count a fast-path request against the key's rate as the route would; False after sending the 429.

    Sets what the security and metrics middleware read after the answer: the principal and the
    rate decision (headers, usage) and the route (its template labels metrics and usage).
    """
    decision = await guard.limit(principal)
    context = scope[CONTEXT_KEY]
    context.principal, context.decision = principal, decision
    scope["route"] = route
    if decision.allowed:
        return True
    problem = rate_limited(principal, decision)
    await send_body(send, problem.status, PROBLEM_JSON,
                    dumps(problem_document(problem.status, problem.detail, scope["path"])))
    return False


async def send_body(send: Send, status: int, media_type: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", media_type.encode())]})
    await send({"type": "http.response.body", "body": body})
