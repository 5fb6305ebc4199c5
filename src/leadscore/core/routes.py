"""The API's routers: a plain-``def`` endpoint's transaction commits in the endpoint's own thread hop.

Why: FastAPI runs a ``def`` endpoint in a thread-pool thread, then serialises its
result and runs the session dependency's teardown (the commit) in two more hops,
each waiting for the event loop to pick it up. Under load those waits lasted up to
two seconds (measured in ``benchmarks/run_api.py``, embedded mode, events posted
under the GET load: the gap between an event post's endpoint returning and its
commit starting), and on SQLite the transaction holds the single write lock all
that time, so the real-time path (rescoring, webhooks) waited behind it.

So ``TransactionRoute`` commits the request's session (``core.deps.get_session``)
right after the endpoint returns, in the same thread. It is still the request's
one commit point: nothing else changes, a failing endpoint still rolls back, and
the dependency's teardown then finds nothing left to commit. Anything serialisation
reads afterwards runs in a plain read transaction, without the write lock.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from leadscore.core.database import end_write

REQUEST_SESSION = "leadscore.request_session"  # session.info key set by core.deps.get_session


def commit_request_session(session: Session) -> None:
    """Commit a request's session now and let what follows only read."""
    if not session.info.get(REQUEST_SESSION):
        return
    session.commit()
    end_write(session)


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the wrapped signature
    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                commit_request_session(value)
        return result

    return run


class TransactionRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and not inspect.isasyncgenfunction(endpoint):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)


def router(**kwargs: Any) -> APIRouter:
    """``APIRouter`` with ``TransactionRoute``: use it for every router of the API."""
    return APIRouter(route_class=TransactionRoute, **kwargs)
