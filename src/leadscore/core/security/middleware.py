"""Adds rate-limit headers to every authenticated response and counts per-key usage.

Pure ASGI: the ``require_scope`` dependency fills a ``RequestContext`` this
middleware put in the ASGI scope; when the response starts, the key's
``RateLimit-*`` headers are added (error responses included), and when it
ends the request is counted for the key by route template and status class.

It also corrects ``Allow`` on 405 responses: Starlette lists only the methods
of the first route matching the path, so ``OPTIONS /v1/keys`` said ``POST``
although ``GET`` works too (RFC 9110 wants every supported method).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadscore.core.metrics import route_index, route_template
from leadscore.core.security.auth import CONTEXT_KEY, RequestContext


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = scope[CONTEXT_KEY] = RequestContext()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if context.decision is not None:
                    # Appended as raw pairs (MutableHeaders rescans the list per header: a tenth of
                    # the event loop's time on the cached-score path); a header the response set
                    # itself (a 429's own) is kept.
                    raw = message.setdefault("headers", [])
                    present = {name.lower() for name, _ in raw}
                    for name, value in context.decision.headers().items():
                        key = name.lower().encode("latin-1")
                        if key not in present:
                            raw.append((key, value.encode("latin-1")))
                if status == 405 and "app" in scope:
                    methods = route_index(scope["app"]).methods.get(route_template(scope))
                    if methods:
                        MutableHeaders(scope=message)["Allow"] = ", ".join(sorted(methods))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if context.principal is not None:
                guard = getattr(scope["app"].state, "security", None) if "app" in scope else None
                if guard is not None:
                    guard.usage.record(
                        context.principal.key_id, f"{scope['method']} {route_template(scope)}", status
                    )
