"""The API's routers: a plain-``def`` endpoint runs, commits and reads its response in one thread hop.

Why: FastAPI runs a ``def`` endpoint in a thread-pool thread, validates its result
in a second hop, and enters and tears down a ``def`` session dependency in two more.
Each hop waits for the event loop twice (the thread's result, then the task's
wake-up), and under load an event-loop iteration lasts hundreds of milliseconds:
measured with ``benchmarks/run_api.py``'s GET load (embedded, 1,000 connections),
an ``async`` route without hops answered in ~0.6 s, ``/healthz`` (two hops) in
~2.1 s and an event post (four hops) in 4.5-5.3 s, while SQLite's single write lock
was held from the first statement to the commit hop.

So ``TransactionRoute`` wraps a ``def`` endpoint in a coroutine that makes one hop:
in that thread the endpoint runs, the request's session (``core.deps.get_session``)
commits as it returns (the request's one commit point, as before: a failing endpoint
rolls back), the result is validated into the route's response model (reading any
lazy attributes there, in a plain read transaction, not on the event loop), and the
session is closed. FastAPI then sees a coroutine: it validates the model instances
it gets back (already the right type: cheap) on the loop, and the session
dependency's teardown (``async``) finds nothing left to do. A result that does not
validate is handed back as it was, so FastAPI reports the same error as before.

The hop goes straight to a thread pool (``hand_to_thread``), not through anyio's
``to_thread``: that yields to the event loop twice before it hands the call over (a
checkpoint, then the capacity limiter's), and under load each yield is a whole loop
iteration. Measured with an instrumented embedded server under the GET load with 10
event posts a second: the call waited p50 252 ms, p99 502 ms to start in its thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from leadscore.core.database import end_write

REQUEST_SESSION = "leadscore.request_session"  # session.info key set by core.deps.get_session


def roll_back_and_close(session: Session) -> None:
    session.rollback()
    session.close()


def _request_sessions(kwargs: dict[str, Any]) -> list[Session]:
    return [v for v in kwargs.values() if isinstance(v, Session) and v.info.get(REQUEST_SESSION)]


def _materialised(route: APIRoute, result: Any) -> Any:
    """``result`` validated into the route's response model, or as it was if that fails."""
    field = route.response_field
    if field is None or isinstance(result, Response):
        return result
    value, errors = field.validate(result, {}, loc=("response",))
    return result if errors else value


def _run(endpoint: Callable[..., Any], route: list[APIRoute], args: tuple, kwargs: dict[str, Any]) -> Any:
    sessions = _request_sessions(kwargs)
    try:
        result = endpoint(*args, **kwargs)
        for session in sessions:
            session.commit()
            end_write(session)  # the response's lazy reads below take no write lock
        result = _materialised(route[0], result)
    except BaseException:
        for session in sessions:
            roll_back_and_close(session)
        raise
    for session in sessions:
        session.close()  # returns the connection here, not in a hop of its own
    return result


# As many threads as anyio's default limiter allows: the most requests working in threads at once.
POOL_THREADS = 40
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="leadscore-request")
    return _pool


async def hand_to_thread(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a pool thread, with this task's context variables, without first
    yielding to the event loop. Like anyio's hop, the call runs to its end even if the
    awaiting task is cancelled (the thread owns the transaction and closes it)."""
    call = functools.partial(contextvars.copy_context().run, func, *args)
    return await asyncio.get_running_loop().run_in_executor(_thread_pool(), call)


def _in_one_hop(endpoint: Callable[..., Any], route: list[APIRoute]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the wrapped signature
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await hand_to_thread(_run, endpoint, route, args, kwargs)

    return run


class TransactionRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        route: list[APIRoute] = []  # this route, once built: the wrapper needs its response field
        if not inspect.iscoroutinefunction(endpoint) and not inspect.isasyncgenfunction(endpoint) \
                and not inspect.isgeneratorfunction(endpoint):
            endpoint = _in_one_hop(endpoint, route)
        super().__init__(path, endpoint, **kwargs)
        route.append(self)


def router(**kwargs: Any) -> APIRouter:
    """``APIRouter`` with ``TransactionRoute``: use it for every router of the API."""
    return APIRouter(route_class=TransactionRoute, **kwargs)
