"""A queue in front of SQLite's single write lock: waiters are woken on release, background work first.

Why: SQLite has one writer, and a connection that finds the write lock taken
waits in SQLite's busy handler, which polls with sleeps growing to 100 ms. Under
load the lock changes hands many times during one such sleep, so a waiter can
lose it again and again to writers that arrived later. Measured with
``benchmarks/run_api.py`` (embedded mode, events posted under the GET load): the
in-process task thread spent 82 % of its time in ``BEGIN IMMEDIATE`` behind the
API's write requests (whose transactions last several event-loop and thread-pool
hops), and an event took seconds to become a score change and a webhook.

So every write transaction of a process on one SQLite database first takes this
lock (just before ``BEGIN IMMEDIATE``) and gives it back when the transaction ends
(the connection's commit or rollback). Waiting threads are woken when it is
released, and threads marked with ``background_writer()`` — the task queue and
outbox threads, which carry the real-time path — go before request threads.
After ``WAIT_SECONDS`` a waiter goes on to SQLite's own lock anyway, so nothing
waits here longer than it could wait there (other processes, for instance a
``leadscore`` command beside the server, still meet only SQLite's lock).
"""

from __future__ import annotations

import threading
from typing import Any

# SQLite's busy_timeout (core.database) is 30 s: waiting longer here would be pointless.
WAIT_SECONDS = 30.0
_HELD = "leadscore_write_lock"  # connection.info key: this connection's transaction holds the lock

_local = threading.local()


def background_writer() -> None:
    """Mark the calling thread as carrying background work: it is first in line for writes."""
    _local.urgent = True


class WriteLock:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held = False
        self._urgent_waiting = 0

    def acquire(self, connection: Any) -> None:
        """Wait for the lock before ``connection`` begins a write transaction (at most ``WAIT_SECONDS``)."""
        urgent = getattr(_local, "urgent", False)
        with self._condition:
            if urgent:
                self._urgent_waiting += 1
            try:
                got = self._condition.wait_for(
                    lambda: not self._held and (urgent or self._urgent_waiting == 0), WAIT_SECONDS)
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            if not got:  # someone holds it for very long: let SQLite's own lock decide
                self._condition.notify_all()
                return
            self._held = True
        connection.info[_HELD] = self

    def release(self, connection: Any) -> None:
        """Called when ``connection``'s transaction ends; a no-op unless it holds the lock."""
        if connection.info.pop(_HELD, None) is not self:
            return
        with self._condition:
            self._held = False
            self._condition.notify_all()
