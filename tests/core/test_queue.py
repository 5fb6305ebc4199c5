from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from leadscore.core import outbox
from leadscore.core.database import session_scope
from leadscore.core.outbox import OutboxMessage
from leadscore.core.queue import InProcessQueue, TaskRegistry, deferred_queue, dispatch_outbox
from leadscore.core.rabbitmq import RabbitMQQueue, consume_batches, consume_rabbitmq
from leadscore.core.runtime import Runtime
from tests.support.broker import BROKER, waiting


@pytest.fixture
def runtime(fresh_database):
    runtime = Runtime.open(fresh_database)
    yield runtime
    runtime.close()


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
def test_rabbitmq_round_trip(runtime, broker_queue):
    queue = broker_queue
    received: list[dict] = []
    done = threading.Event()
    registry = TaskRegistry()
    registry.register("lead.rescore", lambda p: (received.append(p), len(received) == 3 and done.set()))
    with session_scope(runtime.sessions) as session:
        for lead_id in (1, 2, 3):
            outbox.enqueue(session, "lead.rescore", {"lead_id": lead_id})
    publisher = RabbitMQQueue(BROKER, queue=queue)
    assert dispatch_outbox(runtime.sessions, publisher) == 3
    publisher.close()
    stop = threading.Event()
    worker = threading.Thread(target=consume_rabbitmq, args=(BROKER, registry), kwargs={"stop": stop, "queue": queue})
    worker.start()
    assert done.wait(20)
    stop.set()
    worker.join(10)
    assert sorted(p["lead_id"] for p in received) == [1, 2, 3]


def test_in_process_queue_runs_urgent_work_first_and_deferrable_work_beside_it():
    registry = TaskRegistry()
    seen: list[str] = []
    gate, blocking = threading.Event(), threading.Event()
    predicted = threading.Event()
    registry.register("block", lambda payload: (blocking.set(), gate.wait(10)))
    for topic in ("lead.rescore", "webhook.deliver", "insights.refresh"):
        registry.register(topic, lambda payload, topic=topic: seen.append(f"{topic}:{payload['n']}"))
    registry.register("lead.predict", lambda payload: (seen.append(f"lead.predict:{payload['n']}"), predicted.set()))
    queue = InProcessQueue(registry)
    try:
        queue.publish("block", {}, message_id="0")  # holds the main lane while the rest is queued
        assert blocking.wait(10)
        for n, topic in enumerate(["insights.refresh", "lead.rescore", "webhook.deliver", "lead.rescore"]):
            queue.publish(topic, {"n": n}, message_id=str(n))
        queue.publish("lead.predict", {"n": 9}, message_id="9")
        # Forecasts have their own lane: done while the main lane is still busy.
        assert predicted.wait(10) and seen == ["lead.predict:9"]
        gate.set()
        queue.join()
        assert seen[1:] == ["lead.rescore:1", "webhook.deliver:2", "lead.rescore:3", "insights.refresh:0"]
    finally:
        queue.close()


def test_in_process_queue_hands_a_batch_handler_every_waiting_message_of_its_topic():
    registry = TaskRegistry()
    batches: list[list[int]] = []
    singles: list[int] = []
    gate, blocking = threading.Event(), threading.Event()
    registry.register("block", lambda payload: (blocking.set(), gate.wait(10)))
    registry.register("lead.rescore", lambda payloads: batches.append([p["n"] for p in payloads]), batch=True)
    registry.register("insights.refresh", lambda payload: singles.append(payload["n"]))
    queue = InProcessQueue(registry)
    try:
        queue.publish("block", {}, message_id="0")
        assert blocking.wait(10)
        for n in range(5):
            queue.publish("lead.rescore", {"n": n}, message_id=f"r{n}")
            queue.publish("insights.refresh", {"n": n}, message_id=f"i{n}")
        gate.set()
        queue.join()  # returns only when every message, batched ones included, is done
        # The urgent rescorings went first, all five in one batch; then the rest, one at a time.
        assert batches == [[0, 1, 2, 3, 4]] and singles == [0, 1, 2, 3, 4]
        queue.publish("lead.rescore", {"n": 9}, message_id="r9")
        queue.join()
        assert batches[-1] == [9]
    finally:
        queue.close()


def test_a_lingering_batch_topic_runs_at_once_when_quiet_and_at_most_once_per_linger_in_a_stream():
    import time

    registry = TaskRegistry()
    runs: list[tuple[float, list[int]]] = []
    registry.register("lead.predict", lambda payloads: runs.append((time.monotonic(), [p["n"] for p in payloads])),
                      batch=True, linger=0.5)
    assert registry.linger("lead.predict") == 0.5 and registry.linger("other") == 0.0
    queue = InProcessQueue(registry)
    try:
        sent = time.monotonic()
        queue.publish("lead.predict", {"n": 0}, message_id="p0")
        queue.join()
        assert runs[0][1] == [0] and runs[0][0] - sent < 0.4, "after a quiet spell: no wait"
        for n in range(1, 6):  # a stream: one every 50 ms
            queue.publish("lead.predict", {"n": n}, message_id=f"p{n}")
            time.sleep(0.05)
        queue.join()
    finally:
        queue.close()
    # Within the linger of the first batch, the stream waited and went as one batch.
    assert [batch for _, batch in runs] == [[0], [1, 2, 3, 4, 5]]
    assert runs[1][0] - runs[0][0] >= 0.45


def test_registry_runs_batch_and_single_handlers_on_every_payload():
    registry = TaskRegistry()
    seen: list = []
    registry.register("t", lambda payloads: seen.append(("batch", [p["n"] for p in payloads])), batch=True)
    registry.register("t", lambda payload: seen.append(("one", payload["n"])))
    registry.handle_many("t", [{"n": 1}, {"n": 2}])
    registry.handle("t", {"n": 3})
    assert seen == [("batch", [1, 2]), ("one", 1), ("one", 2), ("batch", [3]), ("one", 3)]
    assert registry.batched("t") and not registry.batched("other")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_rabbitmq_deferrable_work_goes_to_its_own_queue_and_is_taken_in_batches(runtime, broker_queue):
    queue = broker_queue
    batches: list[list[int]] = []
    calls: list[int] = []
    done = threading.Event()
    registry = TaskRegistry()

    def predict(payloads):
        calls.append(len(payloads))
        if any(p["lead_id"] == 13 for p in payloads):
            raise ValueError("a bad message")
        batches.append([p["lead_id"] for p in payloads])
        if sum(map(len, batches)) == 20:
            done.set()

    registry.register("lead.predict", predict, batch=True)
    with session_scope(runtime.sessions) as session:
        for lead_id in range(1, 22):
            outbox.enqueue(session, "lead.predict", {"lead_id": lead_id})
        outbox.enqueue(session, "lead.rescore", {"lead_id": 1})
    publisher = RabbitMQQueue(BROKER, queue=queue)
    assert dispatch_outbox(runtime.sessions, publisher) == 22
    publisher.close()
    assert waiting(queue) == 1 and waiting(deferred_queue(queue)) == 21
    stop = threading.Event()
    worker = threading.Thread(target=consume_batches, args=(BROKER, registry),
                              kwargs={"stop": stop, "queue": deferred_queue(queue), "gather_seconds": 0.2})
    worker.start()
    assert done.wait(20)
    stop.set()
    worker.join(10)
    # All 21 waiting came as one batch; it held the bad message, failed, and was retried one by
    # one: the other 20 went through, only the bad one is left (requeued, unacknowledged).
    assert calls[0] == 21 and set(calls[1:]) == {1}
    assert sorted(n for batch in batches for n in batch) == [n for n in range(1, 22) if n != 13]
    assert waiting(deferred_queue(queue)) == 1


def test_a_handler_longer_than_the_heartbeat_keeps_the_connection_and_is_acknowledged_once(broker_queue):
    """A retrain runs for minutes; the broker drops a connection that misses two heartbeats. The
    worker must keep answering them while a handler runs, or the acknowledgement fails, the message
    comes back and the work (a whole training job) is done again and again."""
    import time

    queue = broker_queue
    url = BROKER.rstrip("/") + "/%2F?heartbeat=1"  # the broker gives up after ~2 s of silence
    calls: list[int] = []
    done = threading.Event()
    registry = TaskRegistry()

    def slow(payload):
        calls.append(payload["n"])
        if payload["n"] == 1:
            time.sleep(5)
        else:
            done.set()

    registry.register("model.train", slow)
    publisher = RabbitMQQueue(BROKER, queue=queue)
    publisher.publish("model.train", {"n": 1}, message_id="m1")
    publisher.publish("model.train", {"n": 2}, message_id="m2")
    publisher.close()
    stop = threading.Event()
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            consume_rabbitmq(url, registry, stop=stop, queue=queue, prefetch=1)
        except BaseException as error:  # noqa: BLE001 - the test reports it
            failures.append(error)

    worker = threading.Thread(target=consume)
    worker.start()
    try:
        assert done.wait(30), failures
    finally:
        stop.set()
        worker.join(10)
    assert failures == [] and calls == [1, 2]
    assert waiting(queue) == 0


def test_rabbitmq_batches_of_a_lingering_topic_wait_out_the_linger_in_a_stream(broker_queue):
    import time

    queue = broker_queue
    runs: list[tuple[float, list[int]]] = []
    done = threading.Event()
    registry = TaskRegistry()

    def predict(payloads):
        runs.append((time.monotonic(), [p["n"] for p in payloads]))
        if sum(len(batch) for _, batch in runs) == 6:
            done.set()

    registry.register("lead.predict", predict, batch=True, linger=0.6)
    publisher = RabbitMQQueue(BROKER, queue=queue)
    stop = threading.Event()
    worker = threading.Thread(target=consume_batches, args=(BROKER, registry),
                              kwargs={"stop": stop, "queue": deferred_queue(queue), "gather_seconds": 0.05})
    worker.start()
    try:
        publisher.publish("lead.predict", {"n": 0}, message_id="p0")
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(1, 6):  # a stream, one every 80 ms: slower than the gathering window
            publisher.publish("lead.predict", {"n": n}, message_id=f"p{n}")
            time.sleep(0.08)
        assert done.wait(20)
    finally:
        stop.set()
        worker.join(10)
        publisher.close()
    assert [batch for _, batch in runs] == [[0], [1, 2, 3, 4, 5]]
    assert runs[1][0] - runs[0][0] >= 0.55
