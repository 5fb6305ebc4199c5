"""/v1/interactions: ingest one or a batch; retried requests are stored once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from leadscore.core.deps import SessionDep
from leadscore.core.idempotency import IdempotencyKey, replay_or_run
from leadscore.core.params import LeadId
from leadscore.core.routes import router as api_router
from leadscore.core.security import ReadKey, WriteKey
from leadscore.interactions import service
from leadscore.interactions.schemas import BatchResult, InteractionBatch, InteractionCreate, InteractionRead
from leadscore.leads import service as leads

router = api_router(tags=["interactions"])


@router.post(
    "/interactions",
    response_model=BatchResult,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record one interaction",
    description="Stores the event and rescores its lead in the background (score and webhook within a second). "
    "Send an `Idempotency-Key` header (or an `external_id`) so a retried request is stored once.",
)
def create_interaction(
    item: InteractionCreate, session: SessionDep, principal: WriteKey, idempotency_key: IdempotencyKey = None
) -> BatchResult:
    return replay_or_run(session, principal, idempotency_key, item.model_dump(mode="json"),
                         lambda: service.ingest(session, [item]), BatchResult)


@router.post(
    "/interactions/batch",
    response_model=BatchResult,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record up to 1,000 interactions at once",
    description="All or nothing: if any item is invalid, nothing is stored and every bad item is listed.",
)
def create_batch(
    batch: InteractionBatch, session: SessionDep, principal: WriteKey, idempotency_key: IdempotencyKey = None
) -> BatchResult:
    return replay_or_run(session, principal, idempotency_key, batch.model_dump(mode="json"),
                         lambda: service.ingest(session, batch.items), BatchResult)


@router.get("/leads/{lead_id}/interactions", response_model=list[InteractionRead],
            summary="A lead's interactions, newest first")
def list_interactions(
    lead_id: LeadId, session: SessionDep, principal: ReadKey, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[InteractionRead]:
    leads.get(session, lead_id)
    return [InteractionRead.model_validate(i) for i in service.list_for_lead(session, lead_id, limit=limit)]
