"""``POST /v1/score`` handled below the framework when nothing is unusual.

Why: scoring a one-lead request costs a fraction of a millisecond when it is
batched, and FastAPI's request handling (routing, ``Request`` objects,
dependency solving, body reading and validation through its generic
machinery) cost more than that. This pure ASGI middleware, placed with
``CachedScoreMiddleware`` inside the metrics and security middleware, answers
the ordinary case itself: a JSON body that validates as ``ScoreRequest``
exactly as FastAPI would validate it (pydantic's ``validate_json``, which reads
every body it accepts as FastAPI's ``json.loads`` then ``validate_python``
do; ``request_reader`` gives its result cheaper for the common date-time
shape), a valid key with the score scope (authenticated by the same ``Guard``),
and a dataset with a champion (looked up as the route does).
Everything else - no key or a refused one, another scope, a body FastAPI
would refuse or read differently, no champion - goes to the FastAPI route
with the body replayed unread, which gives the documented answer or error. Both
paths count the request against the rate once, add the same rate-limit
headers, record usage and metrics under the route's template, and send the
same bytes (tests compare). The OpenAPI document still comes from the route.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadscore.core.problems import Problem
from leadscore.core.routes import hand_to_thread
from leadscore.core.security.auth import CONTEXT_KEY, presented_key
from leadscore.scoring.fast_read import admit, route_of, send_body
from leadscore.scoring.request_reader import RequestReader

PATH = "/v1/score"


def _json_content_type(headers: list[tuple[bytes, bytes]]) -> bool:
    """True only for the plain JSON content types FastAPI certainly parses as JSON."""
    found = [value for name, value in headers if name == b"content-type"]
    if len(found) != 1:
        return False
    media_type, _, parameters = found[0].decode("latin-1").partition(";")
    return media_type.strip().lower() == "application/json" and parameters.strip().lower() in ("", "charset=utf-8")


class StatelessScoreMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._reader = RequestReader()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        if not await self._answer(scope, receive, received, send):
            await self.app(scope, _replay(received, receive), send)

    async def _answer(self, scope: Scope, receive: Receive, received: list[Message], send: Send) -> bool:
        app = scope.get("app")
        state = getattr(app, "state", None)
        services, guard = getattr(state, "services", None), getattr(state, "security", None)
        context = scope.get(CONTEXT_KEY)
        if services is None or guard is None or context is None or not _json_content_type(scope["headers"]):
            return False
        key = presented_key(scope["headers"])
        if key is None:
            return False
        principal = guard.cached_principal(key)
        if principal is None:  # not validated yet, or its cache entry expired: as the route would
            try:
                principal = await guard.authenticate(key)
            except Problem:  # refused: the route explains why
                return False
        if not principal.allows("score"):
            return False
        body = await _read_body(receive, received)
        if not body:
            return False
        offload = getattr(state, "scoring_process", None)
        if offload is not None and offload.ready:
            # Validated and scored in the helper process (scoring.offload); counted against the
            # rate once it is answered, so a body it declines is counted by the route alone.
            answer = await offload.score(body)
            if answer is None:
                return False
            if await admit(scope, send, guard, principal, _scoring()[2]):
                await send_body(send, 200, "application/json", answer)
            return True
        try:
            # Parsed and validated in one go: what FastAPI's json.loads then validate_python give
            # for every body this accepts (tests compare); a body it refuses goes to the route,
            # which decides (a UTF-16 body or a byte-order mark json.loads takes, say).
            request = self._reader.read(body)
        except (ValueError, ValidationError, RecursionError):
            return False
        model_cache, batcher, route = _scoring()
        models = model_cache(services)
        found = models.fresh_champion(request.dataset, services.runtime.sessions)
        if found is False:  # unknown: read as the route does
            found = await hand_to_thread(models.champion, services.runtime.sessions, request.dataset)
        if found is None:  # no champion: the route's 409
            return False
        if await admit(scope, send, guard, principal, route):
            # An exception here propagates as it would from the route (to the server-error handler).
            answer = await batcher().score(request, *found)
            await send_body(send, 200, "application/json", answer)
        return True


@functools.cache
def _scoring() -> tuple[Callable[..., Any], Callable[[], Any], Any]:
    """``model_cache``, ``batcher`` and the route's ``APIRoute``, imported on first use (the
    scoring modules import the app's routers, which import this one) and kept: importing them
    in every request cost ~2 µs of event-loop time."""
    from leadscore.scoring.api import score_stateless
    from leadscore.scoring.model_cache import model_cache
    from leadscore.scoring.stateless import batcher

    return model_cache, batcher, route_of(score_stateless)


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body, keeping every message for a replay; None if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(received: list[Message], receive: Receive) -> Receive:
    """``receive`` for the route: the messages already read, in order, then the live channel."""
    if not received:
        return receive
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
