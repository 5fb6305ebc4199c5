"""The dashboard's numbers: one entry point over ``insights.queries``.

Read-only: nothing here writes. The heavier analyses (behaviour, realised
accuracy) scan every closed lead; their results are kept in-process and
reused until the data they depend on changes (new outcomes, new scores) or
ten minutes pass, whichever is first, so pages stay fast at 50,000 leads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadscore.insights.queries import admin, behaviour, common, queue, team
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.scoring.models import Score

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


def behaviour_analysis(session: Session, dataset: str) -> tuple[list[behaviour.Behaviour], int, int]:
    return _cached(_key(session, "behaviour", dataset), _outcomes_fingerprint(session, dataset),
                   lambda: behaviour.behaviour_analysis(session, dataset))


def realised(session: Session, dataset: str):  # noqa: ANN201 - a DataFrame
    fingerprint = (_outcomes_fingerprint(session, dataset), session.scalar(select(func.max(Score.id))))
    return _cached(_key(session, "realised", dataset), fingerprint, lambda: admin.realised(session, dataset))


def calibration(session: Session, dataset: str) -> list[dict[str, float]]:
    fingerprint = (_outcomes_fingerprint(session, dataset), session.scalar(select(func.max(Score.id))))
    return _cached(_key(session, "calibration", dataset), fingerprint, lambda: admin.calibration(session, dataset))


def _activity_fingerprint(session: Session, dataset: str) -> tuple[Any, ...]:
    # Cheap to read (indexed maxima and one small scan) and it moves whenever leads,
    # outcomes or interactions change, so a cached panel is never stale.
    leads = session.execute(select(func.count(), func.max(Lead.updated_at)).where(Lead.dataset == dataset)).one()
    return (*leads, session.scalar(select(func.max(Interaction.id))), _outcomes_fingerprint(session, dataset))


def agent_performance(session: Session, dataset: str) -> list[team.AgentPerformance]:
    return _cached(_key(session, "agents", dataset), _activity_fingerprint(session, dataset),
                   lambda: team.agent_performance(session, dataset))


def data_quality(session: Session, dataset: str) -> list[admin.QualityCount]:
    return _cached(_key(session, "quality", dataset), _activity_fingerprint(session, dataset),
                   lambda: admin.data_quality(session, dataset))
