"""/v1 score endpoints: a lead's current score with reasons, its history, stateless scoring."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from leadscore.core import metrics
from leadscore.core.database import session_scope, utcnow
from leadscore.core.deps import ServicesDep, SessionDep
from leadscore.core.params import LeadId
from leadscore.core.problems import NotFound, Problem
from leadscore.core.security import ReadKey, ScoreKey
from leadscore.leads import service as leads
from leadscore.leads.frames import naive_utc
from leadscore.registry import service as registry
from leadscore.scoring import service
from leadscore.scoring.schemas import ScoreHistoryItem, ScoreRead, ScoreRequest, ScoreResponse, StatelessScore
from leadscore.scoring.tasks import cache_key, model_cache

router = APIRouter(tags=["scores"])


@router.get("/leads/{lead_id}/score", response_model=ScoreRead, summary="A lead's current score and reasons",
            description="Served from the cache when warm; updated within a second of new data.")
def get_score(lead_id: LeadId, services: ServicesDep, principal: ReadKey) -> dict[str, Any]:
    cached = services.cache.get(cache_key(lead_id))
    if cached is not None:
        return cached
    # Its own short read, not SessionDep: under overload a dependency's connection stays checked
    # out until its teardown gets a threadpool slot, and the pool ran dry (30 s timeouts).
    with session_scope(services.runtime.sessions, write=False) as session:
        current = service.current(session, lead_id)
        if current is None:
            leads.get(session, lead_id)  # 404 for a lead that does not exist
            raise NotFound(f"lead {lead_id} has not been scored yet (no champion model, or profiling opt-out)")
        payload = {
            "lead_id": lead_id, "probability": current.probability, "score": current.score, "grade": current.grade,
            "trend": current.delta, "previous_score": None if current.delta is None else current.score - current.delta,
            "model_version_id": current.model_version_id, "scored_at": current.scored_at.isoformat(),
            **current.reasons,
        }
    services.cache.set(cache_key(lead_id), payload)
    return payload


@router.get("/leads/{lead_id}/scores", response_model=list[ScoreHistoryItem], summary="A lead's score history")
def score_history(
    lead_id: LeadId, session: SessionDep, principal: ReadKey, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[ScoreHistoryItem]:
    leads.get(session, lead_id)
    return [ScoreHistoryItem.model_validate(s) for s in service.history(session, lead_id, limit=limit)]


@router.post("/score", response_model=ScoreResponse, summary="Score leads without storing them",
             description="Up to 1,000 leads per call, each with its recent interactions; nothing is stored.")
def score_stateless(request: ScoreRequest, services: ServicesDep, principal: ScoreKey) -> ScoreResponse:
    # Read-only: a POST's SessionDep would begin a write transaction (on SQLite, queueing
    # every call for the database's write lock) though nothing is stored.
    with session_scope(services.runtime.sessions, write=False) as session:
        champion = registry.get_champion(session, dataset=request.dataset)
        if champion is None:
            raise Problem(409, f"dataset {request.dataset!r} has no champion model yet; train one first")
        model = model_cache(services).get(session, champion.id)
    now = naive_utc(utcnow())
    results = []
    for item in request.leads:
        record = item.model_dump(exclude={"ref", "interactions", "attributes"})
        record.update(item.attributes or {})
        record["created_at"] = naive_utc(item.created_at) if item.created_at else None
        interactions = [{**i.model_dump(), "occurred_at": naive_utc(i.occurred_at)} for i in item.interactions]
        result = model.score_one(record, interactions, as_of=now)
        results.append(StatelessScore(ref=item.ref, probability=result.probability, score=round(result.score),
                                      grade=result.grade, base_score=result.base_score,
                                      top_positive=result.top_positive, top_negative=result.top_negative))
    metrics.scores_computed(len(results))
    return ScoreResponse(model_version_id=champion.id, results=results)
