from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.scheduler import PeriodicJob, Scheduler
from leadscore.core.scheduler_models import ScheduledRun


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sessions(fresh_database):
    runtime = Runtime.open(fresh_database)
    yield runtime.sessions
    runtime.close()


def test_runs_when_due_and_not_again_until_the_interval_passes(sessions):
    clock, calls = Clock(), []
    job = PeriodicJob("retrain", timedelta(hours=24), lambda: calls.append(clock.now) or "ok")
    scheduler = Scheduler(sessions, [job], clock=clock)
    assert scheduler.run_due() == {"retrain": "succeeded"}
    clock.now += timedelta(hours=23)
    assert scheduler.run_due() == {}
    clock.now += timedelta(hours=1)
    assert scheduler.run_due() == {"retrain": "succeeded"}
    assert len(calls) == 2


def test_state_survives_a_restart(sessions):
    clock, calls = Clock(), []
    job = PeriodicJob("retrain", timedelta(hours=24), lambda: calls.append(1) and None)
    Scheduler(sessions, [job], clock=clock).run_due()
    clock.now += timedelta(hours=2)
    # A new process with the same database must not run the job again yet.
    assert Scheduler(sessions, [job], clock=clock).run_due() == {}
    assert len(calls) == 1


def test_failure_is_recorded_and_the_job_retried_next_interval(sessions):
    clock = Clock()

    def broken() -> str:
        raise RuntimeError("not enough data")

    scheduler = Scheduler(sessions, [PeriodicJob("retrain", timedelta(hours=24), broken)], clock=clock)
    assert scheduler.run_due() == {"retrain": "failed"}
    with session_scope(sessions) as session:
        row = session.scalar(select(ScheduledRun))
        assert row.last_status == "failed"
        assert "not enough data" in row.last_message
        assert row.locked_by is None


def test_a_held_lease_stops_a_second_process(sessions):
    clock, calls = Clock(), []
    job = PeriodicJob("retrain", timedelta(hours=24), lambda: calls.append(1) and None, lease=timedelta(hours=1))
    first, second = Scheduler(sessions, [job], clock=clock), Scheduler(sessions, [job], clock=clock)
    second.owner = "other-process"
    assert first.due() == ["retrain"]
    assert first._acquire(job)
    assert second.run_job("retrain") is None  # skipped: held by the first
    clock.now += timedelta(hours=2)  # the first died; its lease expired
    assert second.run_job("retrain") == "succeeded"
    assert calls == [1]


def test_background_thread_runs_due_jobs(sessions):
    import threading

    ran = threading.Event()
    scheduler = Scheduler(sessions, [PeriodicJob("tick", timedelta(hours=1), lambda: ran.set() or "ok")], poll_seconds=0.05)
    scheduler.start()
    try:
        assert ran.wait(10)
    finally:
        scheduler.stop()
