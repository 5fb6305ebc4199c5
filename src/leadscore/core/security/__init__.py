"""API keys, scopes, rate limits and usage counters: who may call the API, and how much.

For routers: ``Depends(require_scope("read"))`` (or the ``ReadKey``/``WriteKey``/
``ScoreKey``/``AdminKey``/``AnyKey`` annotated types) returns the calling
``Principal``. The scope matrix is in ``scopes``; key format and hashing in
``keys``; the rate-limit strategy in ``ratelimit``; usage counting in ``usage``.

Modules: ``scopes``, ``models`` (tables), ``keys`` (service), ``auth`` (the
dependency, key cache, ``Guard``), ``ratelimit``, ``usage``, ``middleware``,
``openapi`` (error documentation), ``schemas``, ``api`` (/v1/keys), ``cli``
(``leadscore apikey``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadscore.core.security.auth import (
    AdminKey,
    AnyKey,
    Guard,
    Principal,
    ReadKey,
    ScoreKey,
    WriteKey,
    authorize,
    require_key,
    require_scope,
)
from leadscore.core.security.scopes import Scope

if TYPE_CHECKING:
    from fastapi import FastAPI

    from leadscore.core.services import Services


def install(app: FastAPI) -> None:
    """Middleware and OpenAPI error documentation; the ``Guard`` itself opens with the services."""
    from leadscore.core.security import openapi
    from leadscore.core.security.middleware import SecurityMiddleware

    app.add_middleware(SecurityMiddleware)
    openapi.install(app)


def open_guard(app: FastAPI, services: Services) -> Guard:
    """Called from the app's lifespan: key cache, rate limiter and usage flusher for this app."""
    guard = Guard.open(services.settings, services.runtime.sessions)
    app.state.security = guard
    return guard


__all__ = [
    "AdminKey",
    "AnyKey",
    "Guard",
    "Principal",
    "ReadKey",
    "Scope",
    "ScoreKey",
    "WriteKey",
    "authorize",
    "install",
    "open_guard",
    "require_key",
    "require_scope",
]
