"""A background thread that moves committed outbox rows to the task queue.

Three ways to run it, because who should dispatch depends on the process:

- **eager** (default): wake on ``notify()`` (this process just committed work) or
  every ``interval`` seconds. The embedded mode and commands use this.
- **listen** (``listen_for_commits``, PostgreSQL): also wake on the
  ``NOTIFY leadscore_outbox`` every transaction that writes to the outbox sends,
  whichever process wrote it. A production worker runs this way, so work the
  API commits reaches RabbitMQ at once from a process that is not busy serving
  a thousand connections. Measured why: in the API process the dispatcher
  thread waits for the GIL behind a saturated event loop, and events waited
  seconds in the outbox under load.
- **fallback sweep** (``sweep_only_older_than``): dispatch only rows nobody
  dispatched within that many seconds. The production API runs this way, so
  nothing waits forever if no worker is listening.
- **hand-off** (``hand_off_commits``, in-process queue): each transaction of this
  process gives the rows it wrote to the queue the moment it commits, and the
  loop marks them sent about once a second (and sweeps rows older than
  ``HAND_OFF_GRACE`` that nobody handed over, e.g. a command's). The embedded
  server runs this way. Measured why: under load every write transaction queues
  for SQLite's single write lock, and marking each commit's rows in a transaction
  of their own, through a thread starved of the GIL, made events wait seconds.
  With ``forward_commits``, the rows go to another process instead (the embedded
  server's background helper, ``leadscore.background_process``), which queues
  them with ``hand_off`` and marks and sweeps them; this process then does not
  sweep until the forwarding stops.

Every mode sweeps on start and every ``interval`` seconds, picking up rows left
by a process that died between its commit and its dispatch: nothing written to
the outbox is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.outbox import HAND_OFF, NOTIFY_CHANNEL
from leadscore.core.queue import InProcessQueue, TaskQueue, dispatch_outbox, mark_dispatched
from leadscore.core.write_lock import background_writer

log = logging.getLogger(__name__)

# How long a LISTEN wait blocks before the loop looks at its stop flag again.
LISTEN_SLICE = 0.25
# After a failed LISTEN connection, sweep on the interval this long before trying again.
LISTEN_RETRY = 10.0
# In hand-off mode, rows younger than this are left to the transaction that wrote them.
HAND_OFF_GRACE = 2.0
# Outbox rows per dispatch transaction.
DISPATCH_BATCH = 500


class OutboxDispatcher:
    def __init__(self, sessions: sessionmaker[Session], task_queue: TaskQueue, *, interval: float = 1.0) -> None:
        self.sessions = sessions
        self.task_queue = task_queue
        self.interval = interval
        self.older_than: float | None = None
        self.batch = DISPATCH_BATCH  # rows per dispatch transaction
        self.listen_url: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None
        self._listen_failed_at = -LISTEN_RETRY
        self._handed: set[int] | None = None  # ids given to the queue at commit, not yet marked
        self._forward: Callable[[list[Any]], None] | None = None

    # ------------------------------------------------------------ configuration (before start)
    @property
    def on_postgresql(self) -> bool:
        bind = self.sessions.kw.get("bind")
        return bind is not None and bind.dialect.name == "postgresql"

    def listen_for_commits(self) -> bool:
        """On PostgreSQL, also wake on every committed outbox write; False on other databases."""
        if not self.on_postgresql:
            return False
        # psycopg's own connection string: the URL without SQLAlchemy's "+psycopg"
        url = self.sessions.kw["bind"].url
        self.listen_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return True

    def hand_off_commits(self) -> bool:
        """In-process queue: rows go to the queue as their transaction commits (this process's
        sessions only); False for a broker, where a listening worker dispatches."""
        if not isinstance(self.task_queue, InProcessQueue):
            return False
        self._handed = set()
        self.older_than = max(self.older_than or 0.0, HAND_OFF_GRACE)
        self.sessions.configure(info={**self.sessions.kw.get("info", {}), HAND_OFF: self._hand_off})
        return True

    def forward_commits(self, forward: Callable[[list[Any]], None] | None) -> None:
        """Hand-off mode: give each commit's rows to ``forward`` (another process, which dispatches,
        marks and sweeps them) instead of this process's queue, until it fails or this is called
        with None. Meanwhile this process does not sweep: two sweepers would run late rows twice."""
        self._forward = forward

    @property
    def forwarding(self) -> bool:
        return self._forward is not None

    def hand_off(self, messages: list[Any]) -> None:
        """Rows another process committed (objects with ``id``, ``topic`` and ``payload``): queue
        them now and mark them sent with this process's own (hand-off mode only)."""
        self._hand_off(messages)

    def _hand_off(self, messages: list[Any]) -> None:
        forward = self._forward
        if forward is not None:
            try:
                forward(messages)
                return
            except Exception as exc:  # the other process is gone: this one takes the work again
                log.warning("forwarding committed outbox rows failed (%s); dispatching them here", exc)
                self._forward = None
        handed = self._handed
        if handed is None:
            return
        for message in messages:
            handed.add(message.id)  # first, so a sweep running now marks it instead of sending it
            self.task_queue.publish(message.topic, message.payload, message_id=f"outbox-{message.id}")

    def mark_handed(self) -> int:
        """Mark sent the rows handed to the queue and not yet marked (before a hand-off process
        exits, once its queue has run them); returns how many."""
        if not self._handed:
            return 0
        return mark_dispatched(self.sessions, self._handed)

    def sweep_only_older_than(self, seconds: float) -> None:
        """Leave rows younger than ``seconds`` to a listening dispatcher (the loop only; ``drain`` sends all)."""
        self.older_than = seconds

    # ------------------------------------------------------------ running
    def notify(self) -> None:
        if self._handed is None:  # handing off, the commit itself has queued its rows
            self._wake.set()

    def drain(self, older_than: float | None = None, *, until_empty: bool = True) -> int:
        """Dispatch until the outbox is empty (commands and tests; the loop passes ``older_than``).

        The loop stops at a batch shorter than a full one instead (``until_empty=False``): a
        commit after its read wakes it again (NOTIFY or a local notify), so the empty read that
        would confirm it was one more transaction per wake, several per event on a worker.
        """
        total = 0
        while sent := dispatch_outbox(self.sessions, self.task_queue, limit=self.batch,
                                      older_than=older_than, handed=self._handed):
            total += sent
            if not until_empty and sent < self.batch:
                break
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
        background_writer()  # marking rows sent is on the real-time path: first in line on SQLite
        try:
            while not self._stop.is_set():
                try:
                    # While forwarding, only rows handed here before it began are left to mark.
                    if self._forward is None or self._handed:
                        self.drain(self.older_than, until_empty=False)
                except Exception:  # database or broker hiccup: the next sweep retries
                    log.exception("outbox dispatch failed")
                self._wait()
        finally:
            self._close_listener()

    def _wait(self) -> None:
        """Until a local notify, a NOTIFY from the database (listen mode), stop, or ``interval``."""
        if (self.listen_url is not None and self._listener is None
                and time.monotonic() - self._listen_failed_at > LISTEN_RETRY and self._listen()):
            return  # just subscribed: sweep once more for commits made before LISTEN took effect
        if self._listener is None:
            self._wake.wait(self.interval)
            self._wake.clear()
            return
        deadline = time.monotonic() + self.interval
        while not (self._stop.is_set() or self._wake.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if any(True for _ in self._listener.notifies(timeout=min(LISTEN_SLICE, left), stop_after=1)):
                    break
            except Exception:  # connection lost: sweep on the interval until it is back
                log.warning("outbox LISTEN connection lost; reconnecting", exc_info=True)
                self._close_listener()
                self._wake.wait(max(0.0, deadline - time.monotonic()))
                break
        self._wake.clear()

    def _listen(self) -> bool:
        try:
            import psycopg

            self._listener = psycopg.connect(self.listen_url, autocommit=True, connect_timeout=5)
            self._listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except Exception:
            log.warning("cannot LISTEN for outbox commits; sweeping every %.1f s", self.interval, exc_info=True)
            self._listen_failed_at = time.monotonic()
            self._close_listener()
            return False
        return True

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # already broken
                pass
            self._listener = None
