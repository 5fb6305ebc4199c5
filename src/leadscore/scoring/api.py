"""/v1 score endpoints: a lead's current score with reasons, its history, stateless scoring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query, Request
from redis.exceptions import RedisError
from fastapi.responses import Response

from leadscore.core.cache import dumps
from leadscore.core.database import session_scope
from leadscore.core.deps import ServicesDep, SessionDep
from leadscore.core.params import LeadId
from leadscore.core.problems import NotFound, Problem
from leadscore.core.routes import hand_to_thread
from leadscore.core.routes import router as api_router
from leadscore.core.security import ReadKey, ScoreKey
from leadscore.leads import service as leads
from leadscore.scoring import service, stateless
from leadscore.scoring.fast_read import MISSED
from leadscore.scoring.schemas import ScoreHistoryItem, ScoreRead, ScoreRequest, ScoreResponse
from leadscore.scoring.model_cache import model_cache
from leadscore.scoring.tasks import cache_key

if TYPE_CHECKING:
    from leadscore.core.services import Services

router = api_router(tags=["scores"])


@router.get("/leads/{lead_id}/score", response_model=ScoreRead, summary="A lead's current score and reasons",
            description="Served from the cache when warm; updated within a second of new data.")
async def get_score(lead_id: LeadId, services: ServicesDep, principal: ReadKey, request: Request) -> Response:
    # The hottest endpoint: the ordinary cache hit is answered by fast_read.CachedScoreMiddleware
    # before routing. Here on a hit it stays on the event loop and sends the cached JSON as it
    # is (no thread hop, no parse/validate/serialise round); the cache only ever holds what
    # load_score built, which has ScoreRead's shape (tests check both paths).
    try:
        raw = None if request.scope.get(MISSED) else await services.cache.aget_json(cache_key(lead_id))
    except (OSError, RedisError) as exc:  # unreachable, or every pooled connection busy under overload
        raise Problem(503, f"the score cache is unavailable ({type(exc).__name__}); retry shortly",
                      headers={"Retry-After": "1"}) from exc
    if raw is None:
        raw = await hand_to_thread(_load_and_cache, services, lead_id)
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
    found = models.fresh_champion(request.dataset, services.runtime.sessions)
    if found is False:  # unknown: a database read (and maybe loading the artifact), off the event loop
        found = await hand_to_thread(models.champion, services.runtime.sessions, request.dataset)
    if found is None:
        raise Problem(409, f"dataset {request.dataset!r} has no champion model yet; train one first")
    body = await stateless.batcher().score(request, *found)
    return Response(body, media_type="application/json")
