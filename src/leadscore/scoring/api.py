"""/v1 score endpoints: a lead's current score with reasons, its history, stateless scoring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from leadscore.core import metrics
from leadscore.core.cache import dumps
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

if TYPE_CHECKING:
    from leadscore.core.services import Services

router = APIRouter(tags=["scores"])


@router.get("/leads/{lead_id}/score", response_model=ScoreRead, summary="A lead's current score and reasons",
            description="Served from the cache when warm; updated within a second of new data.")
async def get_score(lead_id: LeadId, services: ServicesDep, principal: ReadKey) -> Response:
    # The hottest endpoint: on a cache hit it stays on the event loop and sends the cached
    # JSON as it is (no thread hop, no parse/validate/serialise round); the cache only ever
    # holds what load_score built, which has ScoreRead's shape (tests check both paths).
    raw = await services.cache.aget_json(cache_key(lead_id))
    if raw is None:
        raw = await run_in_threadpool(_load_and_cache, services, lead_id)
    return Response(raw, media_type="application/json")


def _load_and_cache(services: Services, lead_id: int) -> bytes:
    payload = load_score(services, lead_id)
    services.cache.set(cache_key(lead_id), payload)
    return dumps(payload)


def load_score(services: Services, lead_id: int) -> dict[str, Any]:
    # Its own short read, not SessionDep: under overload a dependency's connection stays checked
    # out until its teardown gets a threadpool slot, and the pool ran dry (30 s timeouts).
    with session_scope(services.runtime.sessions, write=False) as session:
        current = service.current(session, lead_id)
        if current is None:
            leads.get(session, lead_id)  # 404 for a lead that does not exist
            raise NotFound(f"lead {lead_id} has not been scored yet (no champion model, or profiling opt-out)")
        return service.payload(current)


@router.get("/leads/{lead_id}/scores", response_model=list[ScoreHistoryItem], summary="A lead's score history")
def score_history(
    lead_id: LeadId, session: SessionDep, principal: ReadKey, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[ScoreHistoryItem]:
    leads.get(session, lead_id)
    return [ScoreHistoryItem.model_validate(s) for s in service.history(session, lead_id, limit=limit)]


@router.post("/score", response_model=ScoreResponse, summary="Score leads without storing them",
             description="Up to 1,000 leads per call, each with its recent interactions; nothing is stored.")
async def score_stateless(request: ScoreRequest, services: ServicesDep, principal: ScoreKey) -> Response:
    models = model_cache(services)
    found = models.fresh_champion(request.dataset)
    if found is False:  # stale: a database read (and maybe loading the artifact), off the event loop
        found = await run_in_threadpool(models.champion, services.runtime.sessions, request.dataset)
    if found is None:
        raise Problem(409, f"dataset {request.dataset!r} has no champion model yet; train one first")
    # Scoring one lead takes about a millisecond of CPU, less than the thread hop: small calls are
    # scored on the event loop; a big batch goes to the thread pool so it does not stall the rest.
    size = len(request.leads) + sum(len(item.interactions) for item in request.leads) // 50
    if size <= 8:
        body = _score_stateless(request, *found)
    else:
        body = await run_in_threadpool(_score_stateless, request, *found)
    return Response(body, media_type="application/json")


def _score_stateless(request: ScoreRequest, version_id: int, model: Any) -> bytes:
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
    # Validated once, here, into the documented shape; FastAPI would otherwise validate it again.
    return ScoreResponse(model_version_id=version_id, results=results).model_dump_json().encode()
