"""Failed background work: retried through the outbox after a backoff, then parked for an admin."""

from __future__ import annotations

import functools
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.core import outbox, retries
from leadscore.core.database import session_scope, utcnow
from leadscore.core.outbox import OutboxMessage
from leadscore.core.queue import InProcessQueue, TaskRegistry, dispatch_outbox
from leadscore.core.rabbitmq import RabbitMQQueue, consume_rabbitmq
from leadscore.core.runtime import Runtime
from tests.support.broker import BROKER, waiting


@pytest.fixture
def runtime(fresh_database):
    runtime = Runtime.open(fresh_database.model_copy(update={"task_max_retries": 2, "task_retry_base_seconds": 60}))
    yield runtime
    runtime.close()


def _registry(runtime: Runtime) -> TaskRegistry:
    registry = TaskRegistry()
    registry.on_failure = functools.partial(retries.schedule, runtime.sessions, settings=runtime.settings)
    return registry


def _rows(runtime: Runtime) -> list[OutboxMessage]:
    with session_scope(runtime.sessions, write=False) as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
    return rows


def _make_due(runtime: Runtime) -> None:
    with session_scope(runtime.sessions) as session:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.available_at.is_not(None))):
            row.available_at = utcnow() - timedelta(seconds=1)


def _run(runtime: Runtime, task_queue: InProcessQueue) -> int:
    sent = dispatch_outbox(runtime.sessions, task_queue)
    task_queue.join()
    return sent


def test_failed_work_comes_back_after_its_backoff_and_is_parked_when_its_retries_are_spent(runtime):
    calls: list[dict] = []
    registry = _registry(runtime)

    def flaky(payload: dict) -> None:
        calls.append(payload)
        if not payload.get("fixed"):
            raise RuntimeError("the lead cannot be scored")

    registry.register("lead.rescore", flaky)
    task_queue = InProcessQueue(registry)
    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "lead.rescore", {"lead_id": 7})
    started = utcnow()
    assert _run(runtime, task_queue) == 1 and len(calls) == 1
    first, retry = _rows(runtime)
    assert (retry.topic, retry.payload, retry.retry, retry.failed_at) == ("lead.rescore", {"lead_id": 7}, 1, None)
    assert retry.last_error == "RuntimeError: the lead cannot be scored"
    # Retry 1 waits the base delay, give or take a fifth; until then nothing dispatches it.
    assert started + timedelta(seconds=47) < retry.available_at < utcnow() + timedelta(seconds=73)
    assert _run(runtime, task_queue) == 0 and len(calls) == 1
    _make_due(runtime)
    assert _run(runtime, task_queue) == 1 and len(calls) == 2
    assert [r.retry for r in _rows(runtime)] == [0, 1, 2]
    _make_due(runtime)
    assert _run(runtime, task_queue) == 1 and len(calls) == 3
    parked = _rows(runtime)[-1]
    assert parked.retry == 2 and parked.failed_at is not None and parked.dispatched_at is None
    _make_due(runtime)
    assert _run(runtime, task_queue) == 0 and len(calls) == 3  # parked: nothing sends it
    with session_scope(runtime.sessions, write=False) as session:
        assert retries.counts(session) == (0, 1)
        assert [r.id for r in retries.parked(session)] == [parked.id]
    # An admin fixes the cause and replays it: it runs at once, with its retries counted afresh.
    with session_scope(runtime.sessions) as session:
        session.get(OutboxMessage, parked.id).payload = {"lead_id": 7, "fixed": True}
        assert retries.replay(session, [parked.id]) == 1
    assert _run(runtime, task_queue) == 1 and calls[-1] == {"lead_id": 7, "fixed": True}
    with session_scope(runtime.sessions, write=False) as session:
        assert retries.counts(session) == (0, 0)
    assert len(_rows(runtime)) == 4  # no new row: it succeeded
    task_queue.close()


def test_a_failed_batch_retries_only_the_work_that_fails_alone(runtime):
    handled: list[list[int]] = []
    registry = _registry(runtime)

    def batch(payloads: list[dict]) -> None:
        handled.append([p["n"] for p in payloads])
        if any(p["n"] == 2 for p in payloads):
            raise ValueError("lead 2 is broken")

    registry.register("lead.rescore", batch, batch=True)
    task_queue = InProcessQueue(registry)
    with session_scope(runtime.sessions) as session:
        for n in (1, 2, 3):
            outbox.enqueue(session, "lead.rescore", {"n": n})
    assert _run(runtime, task_queue) == 3
    assert handled == [[1, 2, 3], [1], [2], [3]]
    assert [(r.payload, r.retry) for r in _rows(runtime) if r.retry] == [({"n": 2}, 1)]
    task_queue.close()


def test_without_a_failure_hook_the_in_process_queue_only_logs(runtime, caplog):
    registry = TaskRegistry()
    registry.register("lead.rescore", lambda payload: 1 / 0)
    task_queue = InProcessQueue(registry)
    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "lead.rescore", {"n": 1})
    assert _run(runtime, task_queue) == 1
    assert len(_rows(runtime)) == 1 and "task lead.rescore" in caplog.text
    task_queue.close()


def test_the_services_of_every_process_retry_failed_work(services):
    assert services.tasks.on_failure is not None
    services.tasks.register("test.fails", lambda payload: 1 / 0)
    with session_scope(services.runtime.sessions) as session:
        outbox.enqueue(session, "test.fails", {"n": 1})
    services.dispatcher.drain()
    services.queue.join()
    with session_scope(services.runtime.sessions, write=False) as session:
        assert retries.counts(session) == (1, 0)


def _consume(registry: TaskRegistry, queue: str, seconds: float) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=consume_rabbitmq, args=(BROKER, registry),
                              kwargs={"stop": stop, "queue": queue, "prefetch": 1})
    worker.start()
    time.sleep(seconds)
    stop.set()
    worker.join(10)


def test_rabbitmq_acknowledges_failed_work_once_it_is_recorded_for_a_retry(runtime, broker_queue):
    # It used to be requeued at once: a message that always fails came straight back, forever.
    calls: list[dict] = []
    registry = _registry(runtime)
    registry.register("lead.rescore", lambda payload: (calls.append(payload), 1 / 0))
    publisher = RabbitMQQueue(BROKER, queue=broker_queue)
    publisher.publish("lead.rescore", {"lead_id": 9}, message_id="m1", retry=1)
    publisher.close()
    _consume(registry, broker_queue, 2.0)
    assert calls == [{"lead_id": 9}]
    assert waiting(broker_queue) == 0
    [row] = _rows(runtime)
    assert (row.payload, row.retry, row.available_at is not None) == ({"lead_id": 9}, 2, True)


def test_rabbitmq_requeues_failed_work_it_cannot_record_after_a_pause(runtime, broker_queue):
    calls: list[float] = []
    registry = TaskRegistry()

    def down(failures):
        raise ConnectionError("the database is down")

    registry.on_failure = down
    registry.register("lead.rescore", lambda payload: (calls.append(time.monotonic()), 1 / 0))
    publisher = RabbitMQQueue(BROKER, queue=broker_queue)
    publisher.publish("lead.rescore", {"lead_id": 9}, message_id="m1")
    publisher.close()
    _consume(registry, broker_queue, 2.5)
    assert 2 <= len(calls) <= 3  # about one attempt a second, not thousands
    time.sleep(0.5)
    assert waiting(broker_queue) == 1  # kept, for when the database is back


def test_cli_lists_and_replays_parked_work(runtime, cli_env):
    with session_scope(runtime.sessions) as session:
        for n in (1, 2):
            session.add(OutboxMessage(topic="lead.rescore", payload={"lead_id": n}, retry=2, failed_at=utcnow(),
                                      last_error="RuntimeError: boom"))
    runner = CliRunner()
    listed = runner.invoke(app, ["tasks", "failed"], env=cli_env)
    assert listed.exit_code == 0, listed.output
    assert "lead.rescore" in listed.output and "RuntimeError: boom" in listed.output
    refused = runner.invoke(app, ["tasks", "retry"], env=cli_env)
    assert refused.exit_code != 0 and "--all" in refused.output
    replayed = runner.invoke(app, ["tasks", "retry", "--all"], env=cli_env)
    assert replayed.exit_code == 0 and "queued 2" in replayed.output, replayed.output
    with session_scope(runtime.sessions, write=False) as session:
        assert retries.counts(session) == (0, 0)
    assert dispatch_outbox(runtime.sessions, InProcessQueue(TaskRegistry())) == 2
