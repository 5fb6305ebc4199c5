"""A background thread that moves committed outbox rows to the task queue."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.queue import TaskQueue, dispatch_outbox

log = logging.getLogger(__name__)


class OutboxDispatcher:
    """Wakes on ``notify()`` (a request just committed work) or every ``interval`` seconds.

    The periodic sweep picks up rows left by a process that died between its
    commit and its own dispatch, so nothing written to the outbox is lost.
    """

    def __init__(self, sessions: sessionmaker[Session], task_queue: TaskQueue, *, interval: float = 1.0) -> None:
        self.sessions = sessions
        self.task_queue = task_queue
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        self._wake.set()

    def drain(self) -> int:
        """Dispatch until the outbox is empty (used by commands and tests)."""
        total = 0
        while sent := dispatch_outbox(self.sessions, self.task_queue):
            total += sent
        return total

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="leadscore-outbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # database or broker hiccup: the next sweep retries
                log.exception("outbox dispatch failed")
            self._wake.wait(self.interval)
            self._wake.clear()
