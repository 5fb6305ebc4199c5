"""Background work, written once: in-process (embedded) or RabbitMQ (production).

Work enters through the transactional outbox (``core.outbox.enqueue``) and is
handed to a queue only after commit by ``dispatch_outbox``. Handlers are
registered by topic with ``tasks.handler`` and must be idempotent: delivery
is at-least-once (a worker that dies before acknowledging gets the message
again). The RabbitMQ side (publisher and worker loops) is ``core.rabbitmq``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue as stdlib_queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope, utcnow
from leadscore.core.outbox import OutboxMessage, error_text
from leadscore.core.write_lock import background_writer

if TYPE_CHECKING:
    from leadscore.core.retries import Failure

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
BatchHandler = Callable[[list[dict[str, Any]]], None]
QUEUE_NAME = "leadscore.tasks"
# At most this many messages of one topic go to a batch handler at once.
MAX_BATCH = 200


class TaskRegistry:
    """Topic → handlers. Domains register theirs in their ``tasks.py``; a topic may
    have several (e.g. rescoring and webhooks both react to one event).

    A handler registered with ``batch=True`` takes a list of payloads: queues hand it
    every message of its topic that is waiting (``handle_many``), so work that is
    cheaper per item in bulk (forecasts: 20 leads cost about twice one) keeps up.
    With ``linger`` seconds, queues run that topic's batches at most that often (the
    in-process lane, and the worker's deferred queue): the first message after a quiet
    spell is handled at once, and what a steady stream brings meanwhile joins the next.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[Callable[[Any], None], bool]]] = {}
        self._linger: dict[str, float] = {}
        # Called with work whose handlers failed, to be retried later (``core.retries.schedule``,
        # set by ``Services``); it raises if it could not record them. None: queues log and requeue.
        self.on_failure: Callable[[list[Failure]], Any] | None = None

    def register(self, topic: str, handler: Handler | BatchHandler, *, batch: bool = False,
                 linger: float = 0.0) -> None:
        self._handlers.setdefault(topic, []).append((handler, batch))
        if linger > 0:
            self._linger[topic] = max(linger, self._linger.get(topic, 0.0))

    def linger(self, topic: str) -> float:
        """Seconds between two batches of ``topic`` (0: none)."""
        return self._linger.get(topic, 0.0)

    def handlers(self, topic: str) -> list[Handler | BatchHandler]:
        return [handler for handler, _ in self._handlers.get(topic, ())]

    def batched(self, topic: str) -> bool:
        """True when a handler of ``topic`` takes lists: worth collecting its messages."""
        return any(batch for _, batch in self._handlers.get(topic, ()))

    def handle(self, topic: str, payload: dict[str, Any]) -> None:
        self.handle_many(topic, [payload])

    def handle_many(self, topic: str, payloads: list[dict[str, Any]]) -> None:
        """Run every handler on every payload; if any fails the messages fail (and are retried),
        after the others ran: handlers are idempotent, so re-running the ones that passed is safe."""
        failures: list[Exception] = []
        for handler, batch in self._handlers.get(topic, ()):
            for arguments in ([payloads] if batch else payloads):
                try:
                    handler(arguments)
                except Exception as exc:
                    log.exception("handler %s for %s failed", getattr(handler, "__qualname__", handler), topic)
                    failures.append(exc)
        if failures:
            raise failures[0]

    def retry_later(self, failures: list[Failure]) -> bool:
        """Hand failed work to ``on_failure``; False if there is none or it failed (the caller keeps
        the message: RabbitMQ requeues it)."""
        if self.on_failure is None or not failures:
            return False
        try:
            self.on_failure(failures)
        except Exception:
            log.exception("could not record %d failed %s task(s) for a retry", len(failures), failures[0][0])
            return False
        return True

    def handle_alone(self, topic: str, items: list[tuple[dict[str, Any], int]]) -> list[Failure]:
        """Each (payload, retry) on its own, after their batch failed: what still fails, with its error."""
        failures: list[Failure] = []
        for payload, retry in items:
            try:
                self.handle(topic, payload)
            except Exception as exc:
                failures.append((topic, payload, retry, exc))
        return failures

    @property
    def topics(self) -> list[str]:
        return sorted(self._handlers)


class TaskQueue(Protocol):
    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str, retry: int = 0) -> None: ...
    def close(self) -> None: ...


# Work someone is waiting for goes first in the in-process queue: a score change and its
# webhook should not queue behind forecasts, snapshots or retraining (FIFO within a level).
# A promotion is urgent too, and so keeps its place before the rescoring queued after it
# (its handler drops cached scores of the old model; done after, it would drop new ones).
URGENT_TOPICS = frozenset({"lead.rescore", "webhook.deliver", "model.promoted"})
# Deferrable: work nobody waits on, in its own lane (forecasts; the rescoring after a promotion).
DEFERRABLE_TOPICS = frozenset({"lead.predict", "scores.rescore_open"})


def _priority(topic: str) -> int:
    return 0 if topic in URGENT_TOPICS else 2 if topic in DEFERRABLE_TOPICS else 1


def deferred_queue(queue: str) -> str:
    """RabbitMQ's queue for ``DEFERRABLE_TOPICS`` beside ``queue``: a FIFO broker queue has no
    levels, so deferrable work goes to its own queue, consumed in batches (``rabbitmq.consume_batches``)."""
    return f"{queue}.deferred"


class InProcessQueue:
    """Threads that run handlers in this process; nothing to install.

    Two lanes, each a priority queue with its own thread: urgent and ordinary work in one,
    ``DEFERRABLE_TOPICS`` in the other, so a batch of forecasts (hundreds of milliseconds
    when the API keeps the GIL busy) never holds up the score change queued behind it.
    """

    def __init__(self, registry: TaskRegistry) -> None:
        self.registry = registry
        self._main = _Lane(registry, "leadscore-tasks")
        self._deferred = _Lane(registry, "leadscore-tasks-deferred")

    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str, retry: int = 0) -> None:
        (self._deferred if topic in DEFERRABLE_TOPICS else self._main).put(topic, payload, message_id, retry)

    def join(self) -> None:
        """Wait until everything published so far has been handled (tests, CLI)."""
        self._main.items.join()
        self._deferred.items.join()

    def close(self) -> None:
        self._main.close()
        self._deferred.close()


class _Lane:
    def __init__(self, registry: TaskRegistry, name: str) -> None:
        self.registry = registry
        self.items: stdlib_queue.PriorityQueue[tuple[int, int, tuple[str, dict[str, Any], str, int] | None]] = (
            stdlib_queue.PriorityQueue())
        self._sequence = itertools.count()
        self._last_batch: dict[str, float] = {}  # topic -> when its last lingering batch began
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, topic: str, payload: dict[str, Any], message_id: str, retry: int = 0) -> None:
        self.items.put((_priority(topic), next(self._sequence), (topic, payload, message_id, retry)))

    def _run(self) -> None:
        background_writer()  # the real-time path: first in line for SQLite's write lock
        while True:
            _, _, item = self.items.get()
            items = 1
            try:
                if item is None:
                    return
                topic, payload, message_id, retry = item
                taken = [(payload, retry)]
                if self.registry.batched(topic):
                    self._linger(topic)
                    taken += self._take_more(topic)
                    items = len(taken)
                try:
                    self.registry.handle_many(topic, [p for p, _ in taken])
                except Exception as exc:
                    log.exception("task %s (%s, %d message(s)) failed", topic, message_id, len(taken))
                    failures = self.registry.handle_alone(topic, taken) if len(taken) > 1 else [
                        (topic, payload, retry, exc)]
                    # Written back to the outbox for a retry; without a hook (or if that fails) the work
                    # is lost, as it was: an in-process queue has no broker to hold it.
                    self.registry.retry_later(failures)
            finally:
                for _ in range(items):
                    self.items.task_done()

    def _linger(self, topic: str) -> None:
        """Wait out the rest of ``topic``'s linger since its last batch began (see TaskRegistry).

        Why: forecasts cost ~40 ms per batch however few leads it holds; a stream of 10 events a
        second made ten one-lead batches a second, a third of the server's CPU, taken from the
        requests it serves (embedded mode shares one interpreter lock).
        """
        linger = self.registry.linger(topic)
        if linger > 0:
            now = time.monotonic()
            wait = self._last_batch.get(topic, float("-inf")) + linger - now
            if wait > 0:
                time.sleep(wait)
            self._last_batch[topic] = max(now, time.monotonic())

    def _take_more(self, topic: str) -> list[tuple[dict[str, Any], int]]:
        """(payload, retry) of ``topic``'s messages next in line (the queue's head), up to ``MAX_BATCH`` in all."""
        taken: list[tuple[dict[str, Any], int]] = []
        with self.items.mutex:  # PriorityQueue's own lock; ``queue`` is its heap
            heap = self.items.queue
            while heap and len(taken) < MAX_BATCH - 1 and heap[0][2] is not None and heap[0][2][0] == topic:
                _, payload, _, retry = heapq.heappop(heap)[2]
                taken.append((payload, retry))
        return taken

    def close(self) -> None:
        self.items.put((9, next(self._sequence), None))  # after everything already queued
        self._thread.join(timeout=10)


def dispatch_outbox(sessions: sessionmaker[Session], task_queue: TaskQueue, *, limit: int = 500,
                    older_than: float | None = None, handed: set[int] | None = None) -> int:
    """Publish committed outbox rows and mark them sent; returns how many were sent.

    A row is marked only after the broker confirmed it, so a crash in between
    re-sends it (at-least-once). On PostgreSQL, SKIP LOCKED lets several
    dispatchers run side by side. ``older_than`` (seconds) leaves younger rows
    to another dispatcher: a fallback sweep. Rows in ``handed`` were given to the
    queue already (``OutboxDispatcher.hand_off_commits``): they are only marked.

    Plain statements, not ORM objects, and one UPDATE marks the batch: a worker runs this
    several times per event, and loading and flushing each row through the ORM was most of
    the dispatcher's time there (py-spy of ``leadscore worker`` under benchmarks/run_api.py).
    """
    now = utcnow()
    table = OutboxMessage.__table__
    # Not parked, and due: a retry of failed work waits out its backoff (core.retries).
    undelivered = (table.c.dispatched_at.is_(None) & table.c.failed_at.is_(None)
                   & (table.c.available_at.is_(None) | (table.c.available_at <= now)))
    if older_than is not None:
        undelivered = undelivered & (table.c.created_at < now - timedelta(seconds=older_than))
    # Most ticks find nothing: on SQLite, check with a plain read first, so an idle dispatcher
    # never queues for the single write lock. PostgreSQL has no such lock, and the locking
    # select below answers the same question: one transaction per wake instead of two (a
    # worker wakes several times per event; these checks were its most frequent statement).
    bind = sessions.kw.get("bind")
    postgresql = bind is not None and bind.dialect.name == "postgresql"
    if not postgresql:
        with session_scope(sessions, write=False) as session:
            pending = session.scalar(select(table.c.id).where(undelivered).limit(1))
        if pending is None:
            return 0
    # A write transaction from the start: marking rows sent must not fail on SQLite
    # because a handler committed while we were publishing.
    with session_scope(sessions) as session:
        query = (select(table.c.id, table.c.topic, table.c.payload, table.c.retry)
                 .where(undelivered).order_by(table.c.id).limit(limit))
        if postgresql:
            query = query.with_for_update(skip_locked=True)
        sent: list[int] = []
        for row in session.execute(query).all():
            if handed is None or row.id not in handed:
                try:
                    task_queue.publish(row.topic, row.payload, message_id=f"outbox-{row.id}", retry=row.retry)
                except Exception as exc:
                    session.execute(update(table).where(table.c.id == row.id)
                                    .values(attempts=table.c.attempts + 1, last_error=error_text(exc)))
                    break  # the broker is unhealthy: keep order, try again on the next tick
            sent.append(row.id)
        if sent:
            session.execute(update(table).where(table.c.id.in_(sent))
                            .values(dispatched_at=utcnow(), attempts=table.c.attempts + 1))
    if handed is not None:
        handed.difference_update(sent)  # committed: marked for good
    return len(sent)


def mark_dispatched(sessions: sessionmaker[Session], ids: set[int]) -> int:
    """Mark these outbox rows sent (those not marked yet) and forget them from ``ids``; returns how many."""
    wanted = sorted(ids)
    marked = 0
    with session_scope(sessions) as session:
        for start in range(0, len(wanted), 500):
            marked += session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(wanted[start:start + 500]), OutboxMessage.dispatched_at.is_(None))
                .values(dispatched_at=utcnow(), attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)).rowcount
    ids.difference_update(wanted)
    return marked
