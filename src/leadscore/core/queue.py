"""Background work, written once: in-process (embedded) or RabbitMQ (production).

Work enters through the transactional outbox (``core.outbox.enqueue``) and is
handed to a queue only after commit by ``dispatch_outbox``. Handlers are
registered by topic with ``tasks.handler`` and must be idempotent: delivery
is at-least-once (a worker that dies before acknowledging gets the message
again).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import queue as stdlib_queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope, utcnow
from leadscore.core.outbox import OutboxMessage
from leadscore.core.write_lock import background_writer

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
BatchHandler = Callable[[list[dict[str, Any]]], None]
QUEUE_NAME = "leadscore.tasks"
# At most this many messages of one topic go to a batch handler at once.
MAX_BATCH = 200
# How often a consumer answers heartbeats while a handler runs; brokers default to 60 s intervals.
KEEPALIVE_SECONDS = 1.0


class TaskRegistry:
    """Topic → handlers. Domains register theirs in their ``tasks.py``; a topic may
    have several (e.g. rescoring and webhooks both react to one event).

    A handler registered with ``batch=True`` takes a list of payloads: queues hand it
    every message of its topic that is waiting (``handle_many``), so work that is
    cheaper per item in bulk (forecasts: 20 leads cost about twice one) keeps up.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[Callable[[Any], None], bool]]] = {}

    def register(self, topic: str, handler: Handler | BatchHandler, *, batch: bool = False) -> None:
        self._handlers.setdefault(topic, []).append((handler, batch))

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

    @property
    def topics(self) -> list[str]:
        return sorted(self._handlers)


class TaskQueue(Protocol):
    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str) -> None: ...
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
    levels, so deferrable work goes to its own queue, consumed in batches (``consume_batches``)."""
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

    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str) -> None:
        (self._deferred if topic in DEFERRABLE_TOPICS else self._main).put(topic, payload, message_id)

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
        self.items: stdlib_queue.PriorityQueue[tuple[int, int, tuple[str, dict[str, Any], str] | None]] = (
            stdlib_queue.PriorityQueue())
        self._sequence = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, topic: str, payload: dict[str, Any], message_id: str) -> None:
        self.items.put((_priority(topic), next(self._sequence), (topic, payload, message_id)))

    def _run(self) -> None:
        background_writer()  # the real-time path: first in line for SQLite's write lock
        while True:
            _, _, item = self.items.get()
            items = 1
            try:
                if item is None:
                    return
                topic, payload, message_id = item
                payloads = [payload]
                if self.registry.batched(topic):
                    payloads += self._take_more(topic)
                    items = len(payloads)
                try:
                    self.registry.handle_many(topic, payloads)
                except Exception:
                    log.exception("task %s (%s, %d message(s)) failed", topic, message_id, len(payloads))
            finally:
                for _ in range(items):
                    self.items.task_done()

    def _take_more(self, topic: str) -> list[dict[str, Any]]:
        """The payloads of ``topic`` next in line (the queue's head), up to ``MAX_BATCH`` in all."""
        taken: list[dict[str, Any]] = []
        with self.items.mutex:  # PriorityQueue's own lock; ``queue`` is its heap
            heap = self.items.queue
            while heap and len(taken) < MAX_BATCH - 1 and heap[0][2] is not None and heap[0][2][0] == topic:
                taken.append(heapq.heappop(heap)[2][1])
        return taken

    def close(self) -> None:
        self.items.put((9, next(self._sequence), None))  # after everything already queued
        self._thread.join(timeout=10)


class RabbitMQQueue:
    """Publishes persistent messages to a durable RabbitMQ queue with publisher confirms."""

    def __init__(self, url: str, *, queue: str | None = None) -> None:
        import pika

        self._pika = pika
        self._url = url
        self._queue = queue
        self._lock = threading.Lock()
        self._connection: Any = None
        self._channel: Any = None

    def _ensure(self) -> Any:
        if self._channel is None or self._channel.is_closed:
            self._connection = self._pika.BlockingConnection(self._pika.URLParameters(self._url))
            self._channel = self._connection.channel()
            self._channel.queue_declare(queue=self.queue, durable=True)
            self._channel.queue_declare(queue=deferred_queue(self.queue), durable=True)
            self._channel.confirm_delivery()
        return self._channel

    @property
    def queue(self) -> str:
        return self._queue or QUEUE_NAME

    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str) -> None:
        body = json.dumps({"topic": topic, "payload": payload}, default=str).encode()
        properties = self._pika.BasicProperties(
            delivery_mode=2, message_id=message_id, content_type="application/json", type=topic
        )
        queue = deferred_queue(self.queue) if topic in DEFERRABLE_TOPICS else self.queue
        with self._lock:
            try:
                self._ensure().basic_publish("", queue, body, properties, mandatory=True)
            except (self._pika.exceptions.AMQPConnectionError, self._pika.exceptions.ChannelClosed):
                self._channel = None  # reconnect once, then let the outbox retry later
                self._ensure().basic_publish("", queue, body, properties, mandatory=True)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
            self._connection = self._channel = None


def consume_rabbitmq(
    url: str, registry: TaskRegistry, *, stop: threading.Event | None = None, prefetch: int = 16,
    queue: str | None = None,
) -> None:
    """Worker loop: handle each message, acknowledge only after the handler succeeded."""
    with _consuming(url, queue or QUEUE_NAME, prefetch) as consumer:
        for method, _properties, body in consumer.messages(1):
            if stop is not None and stop.is_set():
                break
            if method is None:
                continue
            read = _read(consumer.channel, method.delivery_tag, body)
            if read is not None:
                _handle_one(consumer, registry, read[0], method.delivery_tag, read[1])


def consume_batches(
    url: str, registry: TaskRegistry, *, stop: threading.Event | None = None, queue: str | None = None,
    max_batch: int = MAX_BATCH, gather_seconds: float = 0.05,
) -> None:
    """Worker loop for the deferred queue: the messages waiting (up to ``max_batch``, until none
    arrives for ``gather_seconds``) are handled together, topic by topic (``handle_many``), and
    each is acknowledged only after its handlers succeeded. A failing group is retried message
    by message, so one bad message does not hold back the others (it is requeued alone)."""
    batch: list[tuple[int, bytes]] = []
    with _consuming(url, queue or deferred_queue(QUEUE_NAME), max_batch) as consumer:
        for method, _properties, body in consumer.messages(gather_seconds):
            if stop is not None and stop.is_set():
                break  # what was gathered is unacknowledged: the broker delivers it again
            if method is not None:
                batch.append((method.delivery_tag, body))
                if len(batch) < max_batch:
                    continue
            if batch:
                _handle_batch(consumer, registry, batch)
                batch = []


class _Consumer:
    """A channel on one queue, its message iterator, and the thread its handlers run in.

    Handlers run in that helper thread while the consuming thread keeps the connection alive.
    Why: pika's blocking connection answers the broker's heartbeats only while its own thread is
    inside pika. A handler running longer than two heartbeat intervals (a retrain takes minutes)
    would have the connection closed under it: its acknowledgement fails, the broker delivers the
    message again and the work is repeated - forever, for a job longer than the limit. Handlers
    never touch this channel (they publish through their own connection), so another thread is
    safe; one that finishes within ``KEEPALIVE_SECONDS`` costs only the handover.
    """

    def __init__(self, channel: Any, queue: str) -> None:
        self.channel = channel
        self._queue = queue
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadscore-handler")

    def messages(self, inactivity_timeout: float) -> Iterator[Any]:
        return self.channel.consume(self._queue, inactivity_timeout=inactivity_timeout)

    def run(self, handler: Callable[..., Any], *args: Any) -> Any:
        """``handler(*args)``, answering heartbeats until it returns (or raises)."""
        future = self._runner.submit(handler, *args)
        while True:
            try:
                return future.result(timeout=KEEPALIVE_SECONDS)
            except FuturesTimeout:
                # Heartbeats in both directions; deliveries meanwhile wait in the channel's buffer.
                self.channel.connection.process_data_events(time_limit=0)

    def close(self) -> None:
        self._runner.shutdown(wait=False)


@contextmanager
def _consuming(url: str, queue: str, prefetch: int) -> Iterator[_Consumer]:
    """A consumer of ``queue`` with ``prefetch`` unacknowledged messages; closed on the way out."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True)
    channel.basic_qos(prefetch_count=prefetch)
    consumer = _Consumer(channel, queue)
    try:
        yield consumer
    finally:
        consumer.close()
        try:
            channel.cancel()
            connection.close()
        except Exception:  # the connection may already be gone
            pass


def _read(channel: Any, tag: int, body: bytes) -> tuple[str, dict[str, Any]] | None:
    """(topic, payload) of a message; None after requeueing one that cannot be read."""
    try:
        message = json.loads(body)
        return message["topic"], message["payload"]
    except Exception:
        log.exception("unreadable task message; requeueing")
        channel.basic_nack(tag, requeue=True)
        return None


def _handle_batch(consumer: _Consumer, registry: TaskRegistry, batch: list[tuple[int, bytes]]) -> None:
    channel = consumer.channel
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for tag, body in batch:
        read = _read(channel, tag, body)
        if read is not None:
            groups.setdefault(read[0], []).append((tag, read[1]))
    for topic, messages in groups.items():
        try:
            consumer.run(registry.handle_many, topic, [payload for _, payload in messages])
        except Exception:
            if len(messages) > 1:
                log.warning("a batch of %d %s messages failed; retrying them one by one", len(messages), topic)
                for tag, payload in messages:
                    _handle_one(consumer, registry, topic, tag, payload)
            else:
                channel.basic_nack(messages[0][0], requeue=True)
            continue
        for tag, _ in messages:
            channel.basic_ack(tag)


def _handle_one(consumer: _Consumer, registry: TaskRegistry, topic: str, tag: int, payload: dict[str, Any]) -> None:
    """Handle one message; acknowledge it after its handlers succeeded, else requeue it."""
    channel = consumer.channel
    try:
        consumer.run(registry.handle, topic, payload)
    except Exception:
        log.exception("task %s failed; requeueing", topic)
        channel.basic_nack(tag, requeue=True)
        return
    channel.basic_ack(tag)


def dispatch_outbox(sessions: sessionmaker[Session], task_queue: TaskQueue, *, limit: int = 500,
                    older_than: float | None = None, handed: set[int] | None = None) -> int:
    """Publish committed outbox rows and mark them sent; returns how many were sent.

    A row is marked only after the broker confirmed it, so a crash in between
    re-sends it (at-least-once). On PostgreSQL, SKIP LOCKED lets several
    dispatchers run side by side. ``older_than`` (seconds) leaves younger rows
    to another dispatcher: a fallback sweep. Rows in ``handed`` were given to the
    queue already (``OutboxDispatcher.hand_off_commits``): they are only marked.
    """
    sent = 0
    undelivered = OutboxMessage.dispatched_at.is_(None)
    if older_than is not None:
        undelivered = undelivered & (OutboxMessage.created_at < utcnow() - timedelta(seconds=older_than))
    # Most ticks find nothing: check with a plain read first, so an idle dispatcher
    # never queues for SQLite's write lock.
    with session_scope(sessions, write=False) as session:
        pending = session.scalar(select(OutboxMessage.id).where(undelivered).limit(1))
    if pending is None:
        return 0
    # A write transaction from the start: marking rows sent must not fail on SQLite
    # because a handler committed while we were publishing.
    with session_scope(sessions) as session:
        query = (
            select(OutboxMessage)
            .where(undelivered)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        marked: list[int] = []
        for message in session.scalars(query):
            if handed is not None and message.id in handed:
                message.dispatched_at = utcnow()
                message.attempts += 1
                marked.append(message.id)
                continue
            try:
                task_queue.publish(message.topic, message.payload, message_id=f"outbox-{message.id}")
            except Exception as exc:
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                break  # the broker is unhealthy: keep order, try again on the next tick
            message.dispatched_at = utcnow()
            message.attempts += 1
            sent += 1
    if handed is not None:
        handed.difference_update(marked)  # committed: marked for good
    return sent + len(marked)
