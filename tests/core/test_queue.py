from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import select

from leadscore.core import outbox
from leadscore.core.database import session_scope
from leadscore.core.outbox import OutboxMessage
from leadscore.core.queue import InProcessQueue, RabbitMQQueue, TaskRegistry, consume_rabbitmq, dispatch_outbox
from leadscore.core.runtime import Runtime

BROKER = os.environ.get("LEADSCORE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def runtime(fresh_database):
    runtime = Runtime.open(fresh_database)
    yield runtime
    runtime.close()


def _broker_answers() -> bool:
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(BROKER)).close()
        return True
    except Exception:
        return False


def test_outbox_rows_are_sent_once_after_commit(runtime):
    seen: list[dict] = []
    registry = TaskRegistry()
    registry.register("lead.rescore", seen.append)
    task_queue = InProcessQueue(registry)
    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
        outbox.enqueue(session, "lead.rescore", {"lead_id": 2})
    assert dispatch_outbox(runtime.sessions, task_queue) == 2
    assert dispatch_outbox(runtime.sessions, task_queue) == 0
    task_queue.join()
    task_queue.close()
    assert seen == [{"lead_id": 1}, {"lead_id": 2}]


def test_rolled_back_work_is_never_sent(runtime):
    task_queue = InProcessQueue(TaskRegistry())
    with pytest.raises(RuntimeError):
        with session_scope(runtime.sessions) as session:
            outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
            raise RuntimeError("request failed")
    assert dispatch_outbox(runtime.sessions, task_queue) == 0
    task_queue.close()


def test_broker_failure_keeps_the_row_for_later(runtime):
    class Down:
        def publish(self, *args, **kwargs):
            raise ConnectionError("broker down")

        def close(self):
            pass

    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
    assert dispatch_outbox(runtime.sessions, Down()) == 0
    with session_scope(runtime.sessions) as session:
        row = session.scalar(select(OutboxMessage))
        assert row.dispatched_at is None and row.attempts == 1 and "broker down" in row.last_error


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_rabbitmq_round_trip(runtime, monkeypatch):
    if not _broker_answers():
        pytest.skip("RabbitMQ is not reachable")
    monkeypatch.setattr("leadscore.core.queue.QUEUE_NAME", f"leadscore.test.{uuid.uuid4().hex[:8]}")
    received: list[dict] = []
    done = threading.Event()
    registry = TaskRegistry()
    registry.register("lead.rescore", lambda p: (received.append(p), len(received) == 3 and done.set()))
    with session_scope(runtime.sessions) as session:
        for lead_id in (1, 2, 3):
            outbox.enqueue(session, "lead.rescore", {"lead_id": lead_id})
    publisher = RabbitMQQueue(BROKER)
    assert dispatch_outbox(runtime.sessions, publisher) == 3
    publisher.close()
    stop = threading.Event()
    worker = threading.Thread(target=consume_rabbitmq, args=(BROKER, registry), kwargs={"stop": stop})
    worker.start()
    assert done.wait(20)
    stop.set()
    worker.join(10)
    assert sorted(p["lead_id"] for p in received) == [1, 2, 3]
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    channel = connection.channel()
    from leadscore.core import queue as queue_module

    channel.queue_delete(queue_module.QUEUE_NAME)
    connection.close()


def test_in_process_queue_runs_urgent_work_first_and_in_order_within_a_level():
    registry = TaskRegistry()
    seen: list[str] = []
    gate = threading.Event()
    registry.register("block", lambda payload: gate.wait(10))
    for topic in ("lead.predict", "lead.rescore", "webhook.deliver", "insights.refresh"):
        registry.register(topic, lambda payload, topic=topic: seen.append(f"{topic}:{payload['n']}"))
    queue = InProcessQueue(registry)
    try:
        queue.publish("block", {}, message_id="0")  # holds the thread while the rest is queued
        for n, topic in enumerate(["lead.predict", "insights.refresh", "lead.rescore", "lead.predict",
                                   "webhook.deliver", "lead.rescore"]):
            queue.publish(topic, {"n": n}, message_id=str(n))
        gate.set()
        queue.join()
        assert seen == ["lead.rescore:2", "webhook.deliver:4", "lead.rescore:5", "insights.refresh:1",
                        "lead.predict:0", "lead.predict:3"]
    finally:
        queue.close()
