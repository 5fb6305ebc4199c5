"""Embedded scheduler for periodic jobs (daily retraining, drift checks).

Each job's last run is stored in ``scheduled_runs`` so a restart neither
skips nor repeats a run, and a lease row lets several processes (API
workers, a worker fleet) share one database without running a job twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope, utcnow
from leadscore.core.scheduler_models import ScheduledRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval: timedelta
    # Returns a short message for the history; raising marks the run failed.
    run: Callable[[], str | None]
    # How long a lease lasts before another process may assume the holder died.
    lease: timedelta = timedelta(hours=2)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        jobs: list[PeriodicJob],
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.jobs = {job.name: job for job in jobs}
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.owner = _owner()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _ensure_rows(self, session: Session) -> None:
        dialect = session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        for name in self.jobs:
            session.execute(module.insert(ScheduledRun).values(name=name).on_conflict_do_nothing(index_elements=["name"]))

    def due(self) -> list[str]:
        """Names of jobs whose interval has passed since their last finished run."""
        now = self.clock()
        with session_scope(self.sessions) as session:
            self._ensure_rows(session)
            rows = {r.name: r for r in session.scalars(select(ScheduledRun).where(ScheduledRun.name.in_(self.jobs)))}
        return [
            name for name, job in self.jobs.items()
            if rows[name].last_finished_at is None or rows[name].last_finished_at + job.interval <= now
        ]

    def _acquire(self, job: PeriodicJob) -> bool:
        now = self.clock()
        with session_scope(self.sessions) as session:
            result = session.execute(
                update(ScheduledRun)
                .where(
                    ScheduledRun.name == job.name,
                    or_(ScheduledRun.locked_until.is_(None), ScheduledRun.locked_until < now),
                )
                .values(locked_by=self.owner, locked_until=now + job.lease, last_started_at=now)
            )
            return result.rowcount == 1

    def _release(self, job: PeriodicJob, status: str, message: str | None) -> None:
        with session_scope(self.sessions) as session:
            session.execute(
                update(ScheduledRun)
                .where(ScheduledRun.name == job.name, ScheduledRun.locked_by == self.owner)
                .values(
                    locked_by=None,
                    locked_until=None,
                    last_finished_at=self.clock(),
                    last_status=status,
                    last_message=(message or "")[:2000],
                )
            )

    def run_job(self, name: str) -> str | None:
        """Run one job now if no other process holds it; returns its status or None if skipped."""
        job = self.jobs[name]
        with session_scope(self.sessions) as session:
            self._ensure_rows(session)
        if not self._acquire(job):
            return None
        try:
            message = job.run()
        except Exception as exc:  # a failed job is recorded, the scheduler keeps going
            log.exception("scheduled job %s failed", name)
            self._release(job, "failed", f"{type(exc).__name__}: {exc}")
            return "failed"
        self._release(job, "succeeded", message)
        return "succeeded"

    def run_due(self) -> dict[str, str | None]:
        return {name: self.run_job(name) for name in self.due()}

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="leadscore-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:  # database briefly unavailable: try again next tick
                log.exception("scheduler tick failed")
            self._stop.wait(self.poll_seconds)
