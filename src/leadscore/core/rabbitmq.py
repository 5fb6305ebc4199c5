"""RabbitMQ for background work in production mode (``LEADSCORE_BROKER_URL`` set).

``RabbitMQQueue`` publishes what ``dispatch_outbox`` hands it; ``consume_rabbitmq``
and ``consume_batches`` are the worker loops ``leadscore worker`` runs. A message
is acknowledged only after its handlers succeeded (at-least-once delivery).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from typing import Any

from leadscore.core.queue import DEFERRABLE_TOPICS, MAX_BATCH, QUEUE_NAME, TaskRegistry, deferred_queue

log = logging.getLogger(__name__)

# How often a consumer answers heartbeats while a handler runs; brokers default to 60 s intervals.
KEEPALIVE_SECONDS = 1.0


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

    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str, retry: int = 0) -> None:
        body = json.dumps({"topic": topic, "payload": payload, "retry": retry}, default=str).encode()
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
                _handle_one(consumer, registry, read[0], method.delivery_tag, read[1], read[2])


def consume_batches(
    url: str, registry: TaskRegistry, *, stop: threading.Event | None = None, queue: str | None = None,
    max_batch: int = MAX_BATCH, gather_seconds: float = 0.05,
) -> None:
    """Worker loop for the deferred queue: the messages waiting (up to ``max_batch``, until none
    arrives for ``gather_seconds``) are handled together, topic by topic (``handle_many``), and
    each is acknowledged only after its handlers succeeded. A failing group is retried message
    by message, so one bad message does not hold back the others (it is requeued alone).

    A batch holding a lingering topic (``TaskRegistry.register(..., linger=)``, the forecasts)
    also waits until that long after the previous batch began, gathering what arrives meanwhile:
    a steady stream of events otherwise made one-message batches, each costing as much as twenty.
    """
    batch: list[tuple[int, bytes]] = []
    linger, last_batch = 0.0, float("-inf")
    with _consuming(url, queue or deferred_queue(QUEUE_NAME), max_batch) as consumer:
        for method, properties, body in consumer.messages(gather_seconds):
            if stop is not None and stop.is_set():
                break  # what was gathered is unacknowledged: the broker delivers it again
            if method is not None:
                batch.append((method.delivery_tag, body))
                linger = max(linger, registry.linger(getattr(properties, "type", None) or ""))
                if len(batch) < max_batch:
                    continue
            if batch and (len(batch) >= max_batch or time.monotonic() - last_batch >= linger):
                last_batch = time.monotonic()
                _handle_batch(consumer, registry, batch)
                batch, linger = [], 0.0


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


def _read(channel: Any, tag: int, body: bytes) -> tuple[str, dict[str, Any], int] | None:
    """(topic, payload, retry) of a message; None after refusing one that cannot be read (nobody ever
    could: the broker drops it, or dead-letters it where a dead-letter exchange is configured)."""
    try:
        message = json.loads(body)
        return message["topic"], message["payload"], int(message.get("retry", 0))
    except Exception:
        log.exception("unreadable task message; dropped: %r", body[:500])
        channel.basic_nack(tag, requeue=False)
        return None


# Before requeueing a message whose failure could not be recorded for a later retry (the database
# is down): the broker would hand it straight back, and the worker would spin on it.
REQUEUE_PAUSE = 1.0


def _failed(consumer: _Consumer, registry: TaskRegistry, tag: int, failures: list[Any]) -> None:
    """The message's work failed: acknowledged once it is recorded for a retry, else requeued after a pause."""
    if consumer.run(registry.retry_later, failures):
        consumer.channel.basic_ack(tag)
        return
    time.sleep(REQUEUE_PAUSE)
    consumer.channel.basic_nack(tag, requeue=True)


def _handle_batch(consumer: _Consumer, registry: TaskRegistry, batch: list[tuple[int, bytes]]) -> None:
    channel = consumer.channel
    groups: dict[str, list[tuple[int, dict[str, Any], int]]] = {}
    for tag, body in batch:
        read = _read(channel, tag, body)
        if read is not None:
            groups.setdefault(read[0], []).append((tag, read[1], read[2]))
    for topic, messages in groups.items():
        try:
            consumer.run(registry.handle_many, topic, [payload for _, payload, _ in messages])
        except Exception as exc:
            if len(messages) > 1:
                log.warning("a batch of %d %s messages failed; retrying them one by one", len(messages), topic)
                for tag, payload, retry in messages:
                    _handle_one(consumer, registry, topic, tag, payload, retry)
            else:
                tag, payload, retry = messages[0]
                _failed(consumer, registry, tag, [(topic, payload, retry, exc)])
            continue
        for tag, _, _ in messages:
            channel.basic_ack(tag)


def _handle_one(consumer: _Consumer, registry: TaskRegistry, topic: str, tag: int, payload: dict[str, Any],
                retry: int = 0) -> None:
    """Handle one message; acknowledge it after its handlers succeeded, or once its failure is recorded."""
    try:
        consumer.run(registry.handle, topic, payload)
    except Exception as exc:
        log.exception("task %s failed", topic)
        _failed(consumer, registry, tag, [(topic, payload, retry, exc)])
        return
    consumer.channel.basic_ack(tag)
