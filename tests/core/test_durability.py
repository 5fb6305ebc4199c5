"""At-least-once, for real: a `leadscore worker` SIGKILLed mid-batch loses nothing.

The tests run real processes against PostgreSQL and RabbitMQ (each on its
own queue): the worker consumes `lead.rescore` messages, its outbox
dispatcher sweeps rows left behind by a process that died after committing,
and work that always fails is retried with backoff, then parked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from leadscore.core.database import session_scope
from leadscore.core.outbox import OutboxMessage
from leadscore.core.queue import deferred_queue
from leadscore.core.runtime import Runtime
from leadscore.interactions import service as interactions
from leadscore.interactions.schemas import InteractionCreate
from leadscore.leads.models import Lead
from leadscore.registry.tasks import run_training_job
from leadscore.scoring.models import Score
from tests.api.helpers import seed_history
from tests.support.broker import BROKER, broker_answers, waiting

LEADS = 300

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["postgresql"], indirect=True)]


@pytest.fixture
def world(fresh_database):
    """A database with a champion, settings and environment for worker processes on a private queue."""
    if not broker_answers():
        pytest.skip("RabbitMQ is not reachable")
    queue = f"leadscore.durability.{uuid.uuid4().hex[:8]}"
    settings = fresh_database.model_copy(update={"broker_url": BROKER, "queue_name": queue,
                                                 "scheduler_enabled": False})
    env = {**os.environ, "LEADSCORE_DATABASE_URL": settings.effective_database_url,
           "LEADSCORE_HOME": str(settings.home), "LEADSCORE_BROKER_URL": BROKER, "LEADSCORE_QUEUE_NAME": queue,
           "LEADSCORE_SCHEDULER_ENABLED": "false", "LEADSCORE_LOG_LEVEL": "WARNING"}
    env.pop("LEADSCORE_REDIS_URL", None)
    runtime = Runtime.open(settings)
    seed_history(SimpleNamespace(runtime=runtime))
    assert run_training_job(runtime.sessions, dataset="default").promoted
    yield SimpleNamespace(runtime=runtime, settings=settings, env=env, queue=queue)
    runtime.close()
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.queue_delete(deferred_queue(queue))
    connection.close()


def _new_leads(runtime: Runtime, n: int, prefix: str) -> list[int]:
    with session_scope(runtime.sessions) as session:
        leads = [Lead(dataset="default", external_id=f"{prefix}{i}", attributes={}) for i in range(n)]
        session.add_all(leads)
        session.flush()
        return [lead.id for lead in leads]


def _ingest(session, lead_ids: list[int]) -> None:
    items = [InteractionCreate(lead_id=lead_id, type=kind, direction="inbound")
             for lead_id in lead_ids for kind in ("listing_view", "showing")]
    interactions.ingest(session, items)  # one lead.rescore outbox row per lead


def _worker(env: dict[str, str], log) -> subprocess.Popen:  # noqa: ANN001
    command = shutil.which("leadscore") or "leadscore"
    return subprocess.Popen([command, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _scored(runtime: Runtime, lead_ids: list[int]) -> int:
    with session_scope(runtime.sessions, write=False) as session:
        return session.scalar(select(func.count()).select_from(Lead)
                              .where(Lead.id.in_(lead_ids), Lead.current_score.is_not(None))) or 0


def _undispatched(runtime: Runtime) -> int:
    with session_scope(runtime.sessions, write=False) as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.dispatched_at.is_(None))) or 0


def _wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(5)


def test_a_worker_killed_mid_batch_loses_no_event(world, tmp_path):
    runtime = world.runtime
    lead_ids = _new_leads(runtime, LEADS, "d")
    before = _undispatched(runtime)  # the champion's model.promoted
    with session_scope(runtime.sessions) as session:
        _ingest(session, lead_ids)
    assert _undispatched(runtime) == before + LEADS
    with (tmp_path / "worker-1.log").open("w") as log:
        first = _worker(world.env, log)
        try:
            _wait(lambda: _scored(runtime, lead_ids) >= 20, 120, "the first worker to start scoring")
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # no goodbye: unacknowledged messages stay with the broker
            first.wait(10)
    at_kill = _scored(runtime, lead_ids)
    assert at_kill < LEADS, "the worker finished before it was killed: the test proved nothing"
    with (tmp_path / "worker-2.log").open("w") as log:
        second = _worker(world.env, log)
        try:
            _wait(lambda: _scored(runtime, lead_ids) == LEADS and _undispatched(runtime) == 0
                  and waiting(world.queue) == 0, 180, "every lead to be scored after the restart")
        finally:
            _stop(second)
    with session_scope(runtime.sessions, write=False) as session:
        latest = dict(session.execute(
            select(Score.lead_id, Score.score).where(Score.lead_id.in_(lead_ids), Score.shadow.is_(False))
            .order_by(Score.lead_id, Score.scored_at, Score.id)).all())
        current = dict(session.execute(select(Lead.id, Lead.current_score).where(Lead.id.in_(lead_ids))).all())
    # Every lead scored, and its current score is the last one in its history: a redelivered
    # message rescored a lead again, harmlessly.
    assert len(latest) == LEADS and latest == current, (at_kill, LEADS)


def test_rows_committed_by_a_process_killed_before_dispatch_are_sent_by_the_sweep(world, tmp_path):
    runtime = world.runtime
    lead_ids = _new_leads(runtime, 20, "k")
    before = _undispatched(runtime)
    script = textwrap.dedent(f"""
        import os, signal
        from leadscore.core.config import load_settings
        from leadscore.core.database import session_scope
        from leadscore.core.runtime import Runtime
        from tests.core.test_durability import _ingest

        runtime = Runtime.open(load_settings())
        with session_scope(runtime.sessions) as session:
            _ingest(session, {lead_ids!r})
        os.kill(os.getpid(), signal.SIGKILL)  # committed, never dispatched
    """)
    died = subprocess.run([sys.executable, "-c", script], env={**world.env, "PYTHONPATH": os.getcwd()},
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert _undispatched(runtime) == before + len(lead_ids) and _scored(runtime, lead_ids) == 0
    with (tmp_path / "worker.log").open("w") as log:
        worker = _worker(world.env, log)
        try:
            _wait(lambda: _undispatched(runtime) == 0 and _scored(runtime, lead_ids) == len(lead_ids), 120,
                  "the dispatcher's sweep to send the orphaned rows")
        finally:
            _stop(worker)


def test_a_lead_whose_rescoring_always_fails_is_retried_then_parked_and_holds_back_no_other(world, tmp_path):
    # Its dataset's champion cannot be loaded (a corrupt artifact), so its rescoring raises, every
    # time. The worker used to requeue the message at once and take it again, forever.
    from leadscore.registry import service as registry
    from leadscore.registry.artifacts import Artifact

    runtime = world.runtime
    good = _new_leads(runtime, 5, "g")
    with session_scope(runtime.sessions) as session:
        version = registry.register(
            session, model=Artifact(model=None), kind="conversion", dataset="broken", algorithm="rules",
            metrics={}, features=[], params={}, library_versions={}, data_fingerprint=None, data_start=None,
            data_end=None, n_train=0, n_valid=0, n_positive=0)
        version.artifact = b"not a model"
        registry.promote(session, version.id, actor="test")
        bad = Lead(dataset="broken", external_id="b1", attributes={})
        session.add(bad)
        session.flush()
        bad_id = bad.id
    with session_scope(runtime.sessions) as session:
        _ingest(session, [bad_id, *good])
    env = {**world.env, "LEADSCORE_TASK_MAX_RETRIES": "2", "LEADSCORE_TASK_RETRY_BASE_SECONDS": "0.2"}

    def rows_for_bad() -> list[OutboxMessage]:
        with session_scope(runtime.sessions, write=False) as session:
            rows = [row for row in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "lead.rescore")
                                                   .order_by(OutboxMessage.id))
                    if row.payload.get("lead_id") == bad_id]
            session.expunge_all()
        return rows

    with (tmp_path / "worker.log").open("w") as log:
        worker = _worker(env, log)
        try:
            _wait(lambda: _scored(runtime, good) == len(good) and any(r.failed_at for r in rows_for_bad()), 120,
                  "the good leads to be scored and the bad one's work to be parked")
            time.sleep(2)  # long past every backoff: nothing more may happen to it
            assert worker.poll() is None, "the worker died"
        finally:
            _stop(worker)
    rows = rows_for_bad()
    # Three attempts (the first and two retries), then parked with what went wrong; nothing queued in the broker.
    assert [(r.retry, r.failed_at is not None) for r in rows] == [(0, False), (1, False), (2, False), (2, True)]
    assert "UnpicklingError" in rows[-1].last_error and rows[-1].dispatched_at is None
    assert waiting(world.queue) == 0 and _scored(runtime, [bad_id]) == 0
