"""The dashboard's numbers: one entry point over ``insights.queries`` and ``insights.snapshots``.

Read-only: nothing here writes. The heaviest analyses (behaviour; realised
accuracy, calibration, drift and data quality on the admin page) are not
computed in a request: a background job stores them as snapshots
(``insights.tasks``) and the pages read the latest one, shown "as of" its time.
Agent performance is kept in-process and reused until the data it depends on
changes or ten minutes pass, whichever is first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadscore.insights import snapshots
from leadscore.insights.queries import admin, common, queue, team
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome

T = TypeVar("T")
CACHE_SECONDS = 600.0

_cache: dict[tuple[Any, ...], tuple[float, Any, Any]] = {}
_lock = threading.Lock()


def _cached(key: tuple[Any, ...], fingerprint: Any, compute: Callable[[], T]) -> T:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now and hit[1] == fingerprint:
        return hit[2]
    value = compute()
    with _lock:
        _cache[key] = (now + CACHE_SECONDS, fingerprint, value)
    return value


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _outcomes_fingerprint(session: Session, dataset: str) -> tuple[Any, ...]:
    row = session.execute(select(func.count(), func.max(Outcome.id), func.max(Outcome.recorded_at))
                          .join(Lead, Lead.id == Outcome.lead_id).where(Lead.dataset == dataset)).one()
    return tuple(row)


def _key(session: Session, name: str, dataset: str) -> tuple[Any, ...]:
    return (str(session.get_bind().url), name, dataset)


# Re-exported so pages import one module.
datasets = common.datasets
queue_page = queue.queue
lead_detail = queue.lead_detail
lead_owner = queue.lead_owner
queue_sources = queue.sources
pipeline = team.pipeline
funnel = team.funnel
forecast = team.forecast
model_versions = admin.model_versions
drift = admin.drift
training_history = admin.training_history
failed_imports = admin.failed_imports


def snapshot(session: Session, dataset: str, kind: str) -> snapshots.Snapshot | None:
    """The latest stored snapshot (None if the job has not produced one yet)."""
    return snapshots.latest(session, dataset, kind)


def snapshot_is_stale(session: Session, found: snapshots.Snapshot) -> bool:
    return snapshots.is_stale(session, found)


behaviour_rows = snapshots.behaviour_rows
realised_frame = snapshots.realised_frame
quality_counts = snapshots.quality_counts


def _activity_fingerprint(session: Session, dataset: str) -> tuple[Any, ...]:
    # Cheap to read (indexed maxima and one small scan) and it moves whenever leads,
    # outcomes or interactions change, so a cached panel is never stale.
    leads = session.execute(select(func.count(), func.max(Lead.updated_at)).where(Lead.dataset == dataset)).one()
    return (*leads, session.scalar(select(func.max(Interaction.id))), _outcomes_fingerprint(session, dataset))


def agent_performance(session: Session, dataset: str) -> list[team.AgentPerformance]:
    return _cached(_key(session, "agents", dataset), _activity_fingerprint(session, dataset),
                   lambda: team.agent_performance(session, dataset))
