"""Background work of the dashboard: keep the precomputed statistics (``insights.snapshots``) fresh.

* ``dashboard-snapshots``, a periodic job on the embedded scheduler (every
  ``REFRESH_MINUTES``): for every dataset, recompute a snapshot whose data moved
  (its fingerprint changed: new outcomes, scores from a batch rescoring, a new
  champion, new leads or interactions) or that is older than a day; the rest cost
  a few indexed reads.
* ``model.promoted`` (after training) and ``insights.refresh`` (anyone, e.g. after a
  batch rescoring: ``request_refresh`` in the same transaction) recompute at once.
* ``ensure_snapshot``: a page's fallback when no snapshot exists yet (computed and
  stored once, under a lock so simultaneous first loads compute it once per process).

Each function here owns its transactions: statistics are computed in a read-only
transaction (SQLite never holds its write lock for seconds) and stored in a short
write transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from leadscore.core import outbox
from leadscore.core.database import session_scope
from leadscore.insights import snapshots

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

REFRESH_MINUTES = 5
REFRESH_TOPIC = "insights.refresh"
JOB_NAME = "dashboard-snapshots"

_locks: dict[tuple[str, str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(sessions: sessionmaker[Session], dataset: str, kind: str) -> threading.Lock:
    key = (str(sessions.kw.get("bind").url) if sessions.kw.get("bind") is not None else "", dataset, kind)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def refresh_snapshot(sessions: sessionmaker[Session], dataset: str, kind: str) -> snapshots.Snapshot:
    """Compute one snapshot now and store it; returns it."""
    with _lock(sessions, dataset, kind):
        return _compute_and_store(sessions, dataset, kind)


def _compute_and_store(sessions: sessionmaker[Session], dataset: str, kind: str) -> snapshots.Snapshot:
    started = time.perf_counter()
    with session_scope(sessions, write=False) as session:
        mark = snapshots.fingerprint(session, dataset, kind)
        data = snapshots.COMPUTE[kind](session, dataset)
    seconds = time.perf_counter() - started
    with session_scope(sessions) as session:
        snapshot = snapshots.store(session, dataset, kind, data, fingerprint=mark, seconds=seconds)
    log.info("dashboard snapshot %s/%s computed in %.1f s", dataset, kind, seconds)
    return snapshot


def ensure_snapshot(sessions: sessionmaker[Session], dataset: str, kind: str) -> snapshots.Snapshot:
    """The latest snapshot, computing and storing it first if there is none (a page's fallback)."""
    with session_scope(sessions, write=False) as session:
        found = snapshots.latest(session, dataset, kind)
    if found is not None:
        return found
    with _lock(sessions, dataset, kind):
        with session_scope(sessions, write=False) as session:  # another request may have just stored it
            found = snapshots.latest(session, dataset, kind)
        return found if found is not None else _compute_and_store(sessions, dataset, kind)


def refresh_snapshots(sessions: sessionmaker[Session], *, dataset: str | None = None, force: bool = False,
                      kinds: tuple[str, ...] = snapshots.KINDS) -> dict[str, str]:
    """Recompute the snapshots whose data moved (all of them with ``force``); returns what happened."""
    with session_scope(sessions, write=False) as session:
        names = [dataset] if dataset is not None else snapshots.datasets(session)
        todo = []
        for name in names:
            for kind in kinds:
                found = snapshots.latest(session, name, kind)
                if force or found is None or snapshots.is_stale(session, found):
                    todo.append((name, kind))
    done: dict[str, str] = {}
    for name, kind in todo:
        snapshot = refresh_snapshot(sessions, name, kind)
        done[f"{name}/{kind}"] = f"{snapshot.seconds:.1f} s"
    return done


def summary(done: dict[str, str]) -> str:
    return "; ".join(f"{k} recomputed ({v})" for k, v in done.items()) or "all snapshots current"


def request_refresh(session: Session, dataset: str) -> None:
    """Ask for the dataset's snapshots to be recomputed once this transaction commits (flush only)."""
    outbox.enqueue(session, REFRESH_TOPIC, {"dataset": dataset})


def periodic_job(services: Services) -> Any:
    from leadscore.core.scheduler import PeriodicJob

    return PeriodicJob(JOB_NAME, timedelta(minutes=REFRESH_MINUTES),
                       lambda: summary(refresh_snapshots(services.runtime.sessions)), lease=timedelta(minutes=30))


def register(services: Services) -> None:
    def on_refresh(payload: dict[str, Any]) -> None:
        # Recomputes what moved; a second delivery of the same message finds nothing to do.
        refresh_snapshots(services.runtime.sessions, dataset=payload.get("dataset"))

    def on_promoted(payload: dict[str, Any]) -> None:
        if payload.get("kind", "conversion") == "conversion" and payload.get("dataset"):
            refresh_snapshots(services.runtime.sessions, dataset=payload["dataset"], kinds=("admin",))

    services.tasks.register(REFRESH_TOPIC, on_refresh)
    services.tasks.register("model.promoted", on_promoted)
