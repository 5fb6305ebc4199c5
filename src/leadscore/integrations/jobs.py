"""Bulk jobs: an uploaded file scored or imported in the background, with progress on its row.

Flow: the API streams the upload to ``LEADSCORE_HOME/bulk/<token>/``, inserts a
``queued`` row and writes ``bulk.run`` to the outbox in the same transaction.
The handler hands the job to this process's bulk executor (one thread, so a
long file never blocks real-time rescoring or the broker connection) and
returns. The runner claims the row (``running``), keeps ``heartbeat_at``
fresh from a side thread, writes progress every chunk or batch, and ends it
``succeeded`` or ``failed``.

Durability comes from the row, not the message: a process that dies leaves
the job ``running`` with a stale heartbeat (or ``queued`` with its message
lost in an in-process queue); ``recover`` (a scheduler job) puts it back in
the queue. Re-running is safe: imports upsert by natural key, scoring
rewrites its output file. A job whose worker died ``MAX_ATTEMPTS`` times fails.
"""

from __future__ import annotations

import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core import outbox
from leadscore.core.database import begin_write, session_scope, utcnow
from leadscore.core.errors import LeadscoreError
from leadscore.integrations.models import BulkJob

if TYPE_CHECKING:
    from leadscore.core.config import Settings
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

TOPIC = "bulk.run"
IMPORT_KINDS = ("leads", "interactions", "agents", "outcomes", "properties")
STALE_AFTER = timedelta(minutes=2)
HEARTBEAT_SECONDS = 20.0
MAX_ATTEMPTS = 3
SCORE_CHUNK = 5_000  # rows scored (and progress written) per step
EXECUTOR = "bulk.executor"


def bulk_root(settings: Settings) -> Path:
    return settings.home / "bulk"


# -- service: no commits here ---------------------------------------------------------------

def create(session: Session, *, kind: str, dataset: str, options: dict[str, Any], input_path: Path,
           input_bytes: int, rows_total: int | None, actor: str) -> BulkJob:
    """Record a queued job and its ``bulk.run`` message in the caller's transaction."""
    suffix = "errors.csv" if kind in IMPORT_KINDS else "result.csv"
    job = BulkJob(kind=kind, dataset=dataset, status="queued", options=options, input_path=str(input_path),
                  input_bytes=input_bytes, result_path=str(input_path.parent / suffix), rows_total=rows_total,
                  created_by=actor[:100])
    session.add(job)
    session.flush()
    outbox.enqueue(session, TOPIC, {"job_id": job.id})
    return job


def requeue_stale(session: Session, *, now: Any = None, limit: int = 100) -> int:
    """Queue again jobs whose worker died (stale heartbeat) or whose message was lost."""
    now = now or utcnow()
    stale = now - STALE_AFTER
    rows = list(session.scalars(
        select(BulkJob).where(or_(
            and_(BulkJob.status == "running", or_(BulkJob.heartbeat_at.is_(None), BulkJob.heartbeat_at < stale)),
            and_(BulkJob.status == "queued", func.coalesce(BulkJob.heartbeat_at, BulkJob.created_at) < stale),
        )).order_by(BulkJob.id).limit(limit)
    ))
    for job in rows:
        log.warning("bulk job %s was left %s; queueing it again", job.id, job.status)
        job.status, job.heartbeat_at = "queued", now  # heartbeat_at doubles as "last queued at"
        outbox.enqueue(session, TOPIC, {"job_id": job.id})
    session.flush()
    return len(rows)


# -- the runner: owns its transactions --------------------------------------------------------

def _claim(sessions: sessionmaker[Session], job_id: int) -> dict[str, Any] | None:
    now = utcnow()
    with session_scope(sessions) as session:
        claimed = session.execute(
            update(BulkJob).where(BulkJob.id == job_id, BulkJob.status == "queued")
            .values(status="running", started_at=func.coalesce(BulkJob.started_at, now), heartbeat_at=now,
                    attempts=BulkJob.attempts + 1, error_summary=None)
        ).rowcount
        if claimed != 1:  # finished, or running elsewhere: a duplicate message
            return None
        job = session.get(BulkJob, job_id)
        if job.attempts > MAX_ATTEMPTS:
            job.status, job.finished_at = "failed", now
            job.error_summary = f"gave up after {MAX_ATTEMPTS} attempts: the process running it stopped each time"
            return None
        return {"id": job.id, "kind": job.kind, "dataset": job.dataset, "options": dict(job.options or {}),
                "input": Path(job.input_path), "result": Path(job.result_path or ""), "actor": job.created_by}


def _update(sessions: sessionmaker[Session], job_id: int, **values: Any) -> None:
    with session_scope(sessions) as session:
        session.execute(update(BulkJob).where(BulkJob.id == job_id).values(**values))


class _Heartbeat:
    def __init__(self, sessions: sessionmaker[Session], job_id: int) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(sessions, job_id), daemon=True,
                                        name=f"leadscore-bulk-{job_id}")

    def _loop(self, sessions: sessionmaker[Session], job_id: int) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                _update(sessions, job_id, heartbeat_at=utcnow())
            except Exception:  # the database blinked; the next beat retries
                log.warning("bulk job %s heartbeat failed", job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_job(sessions: sessionmaker[Session], job_id: int) -> str | None:
    """Run one job to its end; returns its final status, or None when it was not ours to run."""
    job = _claim(sessions, job_id)
    if job is None:
        return None
    try:
        with _Heartbeat(sessions, job_id):
            if job["kind"] == "score":
                _run_score(sessions, job)
            else:
                _run_import(sessions, job)
    except Exception as exc:
        expected = isinstance(exc, LeadscoreError)
        if not expected:
            log.exception("bulk job %s failed", job_id)
        message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        _update(sessions, job_id, status="failed", finished_at=utcnow(), error_summary=message[:4000])
        return "failed"
    return "succeeded"


def _run_score(sessions: sessionmaker[Session], job: dict[str, Any]) -> None:
    from leadscore.registry import service as registry
    from leadscore.scoring.batch import score_file

    with session_scope(sessions, write=False) as session:
        champion = registry.get_champion(session, dataset=job["dataset"])
        if champion is None:
            raise LeadscoreError(f"dataset {job['dataset']!r} has no champion model")
        model = registry.load_model(session, champion).model
    partial = job["result"].with_suffix(".part")
    rows = score_file(job["input"], partial, model, id_column=job["options"].get("id_column"), chunk=SCORE_CHUNK,
                      progress=lambda n: _update(sessions, job["id"], rows_processed=n, heartbeat_at=utcnow()))
    partial.replace(job["result"])  # a rerun rewrites the whole output; readers never see half a file
    _update(sessions, job["id"], status="succeeded", finished_at=utcnow(), rows_processed=rows, rows_total=rows,
            error_summary=None)


def _run_import(sessions: sessionmaker[Session], job: dict[str, Any]) -> None:
    from leadscore.integrations import service
    from leadscore.integrations.importers.report import ErrorReport, ImportResult
    from leadscore.integrations.schemas import OPTION_MODELS

    kind, job_id = job["kind"], job["id"]
    stored = dict(job["options"])
    previous_run = stored.pop("import_run_id", None)
    options = OPTION_MODELS[kind](**stored)
    actor = job["actor"] or "bulk"
    session = sessions()
    try:
        prepared = service.prepare_import(session, kind, job["input"], options)
        session.rollback()
        header = 1 if prepared.source.format == "csv" else 0
        report = ErrorReport(job["result"], create_empty=True)
        begin_write(session)
        if previous_run:  # the attempt that died left its run open
            service.fail_run(session, previous_run, f"interrupted; bulk job {job_id} ran again")
        run_row = service.start_run(session, prepared, report_path=report.path)
        bulk = session.get(BulkJob, job_id)
        bulk.rows_total = max(0, prepared.source.lines - header)
        bulk.options = {**stored, "import_run_id": run_row.id}
        session.commit()
        begin_write(session)

        def on_batch(result: ImportResult) -> None:
            service.update_run(run_row, result)
            bulk.rows_processed, bulk.rows_failed, bulk.heartbeat_at = result.rows_read, result.rejected, utcnow()
            session.commit()
            begin_write(session)

        try:
            result = service.run_import(prepared, report, on_batch=on_batch)
        finally:
            report.close()
        service.finish_run(session, run_row, result, report, actor=actor)
        bulk.rows_processed, bulk.rows_failed = result.rows_read, result.rejected
        bulk.status, bulk.finished_at = "succeeded", utcnow()
        bulk.error_summary = _summary(result, report)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _summary(result: Any, report: Any) -> str | None:
    if not result.rejected and not result.warnings:
        return None
    parts = [f"{result.rejected} row(s) rejected (see the error report)"] if result.rejected else []
    parts += [f"line {p.line}, {p.column}: {p.reason}" for p in report.problems[:5]]
    parts += result.warnings[:5]
    return "; ".join(parts)[:4000]


# -- wiring ---------------------------------------------------------------------------------------

class _Executor:
    """One thread per process runs bulk jobs, beside (not inside) the task queue's consumer."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadscore-bulk")

    def submit(self, fn: Any, *args: Any) -> None:
        self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _executor(services: Services) -> _Executor:
    executor = services.extras.get(EXECUTOR)
    if executor is None:
        executor = services.extras.setdefault(EXECUTOR, _Executor())
    return executor  # type: ignore[return-value]


def recover(services: Services) -> str:
    with session_scope(services.runtime.sessions) as session:
        queued = requeue_stale(session)
    if queued:
        services.dispatcher.notify()
    return f"queued {queued} interrupted bulk job(s) again"


def periodic_job(services: Services) -> Any:
    from leadscore.core.scheduler import PeriodicJob

    return PeriodicJob("bulk.recover", timedelta(minutes=1), lambda: recover(services), lease=timedelta(minutes=5))


def register(services: Services) -> None:
    def on_run(payload: dict[str, Any]) -> None:
        _executor(services).submit(run_job, services.runtime.sessions, int(payload["job_id"]))

    services.tasks.register(TOPIC, on_run)


def remove_files(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
