"""At most a few write requests at a time in the thread pool when the database is SQLite.

Why: a write request's session begins ``BEGIN IMMEDIATE`` in a thread-pool
thread (the request's dependency) and commits in another hop after the path
function ran. SQLite has one writer: when more write requests arrive at once
than the pool has threads (40), every thread can end up waiting for the write
lock while the request holding it waits for a thread to finish in, so nobody
moves until the 30 s busy timeout. Measured: 64 concurrent event posts under
read load, 198 of 200 timed out. Waiting here happens on the event loop, which
holds no thread; PostgreSQL has row locks and many writers, so it is not gated.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Under the thread pool's 40, so the holder of the write lock always finds a thread. Since a
# plain-def endpoint's transaction begins and commits in one thread hop (core.routes), only an
# ``async`` endpoint's commit still needs a hop of its own, so more than the earlier 4 may wait:
# with 4, event posts under the GET load completed four at a time (6.7 of 10 posted per second).
SQLITE_WRITERS = 16


class SQLiteWriteGate:
    def __init__(self, app: ASGIApp, limit: int = SQLITE_WRITERS) -> None:
        self.app = app
        self.limit = limit
        self._gate: asyncio.Semaphore | None = None
        self._sqlite: bool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS or not self._on_sqlite(scope):
            await self.app(scope, receive, send)
            return
        if self._gate is None:  # made on the serving loop, not at import
            self._gate = asyncio.Semaphore(self.limit)
        async with self._gate:
            await self.app(scope, receive, send)

    def _on_sqlite(self, scope: Scope) -> bool:
        if self._sqlite is None:
            runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
            if runtime is None:  # lifespan not run (a wiring bug elsewhere): do not gate, do not cache
                return False
            self._sqlite = runtime.engine.dialect.name == "sqlite"
        return self._sqlite
