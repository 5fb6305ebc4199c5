"""/v1/leads: create, read, update, delete, list (filter, sort by score, cursor pages)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response, status

from leadscore.core.deps import SessionDep
from leadscore.core.params import LeadId
from leadscore.core.routes import router as api_router
from leadscore.core.types import DatasetName, IsoDateTime
from leadscore.core.security import ReadKey, WriteKey
from leadscore.leads import service
from leadscore.leads.schemas import LeadCreate, LeadPage, LeadRead, LeadUpdate

router = api_router(prefix="/leads", tags=["leads"])


def _actor(principal) -> str:  # noqa: ANN001
    return f"key:{principal.prefix}"


@router.post(
    "",
    response_model=LeadRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a lead (or update it, by external_id)",
    description="Creates a lead and scores it in the background. Posting an `external_id` that already exists "
    "in the dataset updates that lead instead (200), so a retried request never duplicates.",
    responses={200: {"description": "An existing lead (same dataset and external_id) was updated.",
                     "model": LeadRead}},
)
def create_lead(data: LeadCreate, session: SessionDep, principal: WriteKey, response: Response) -> LeadRead:
    lead, created = service.create(session, data, actor=_actor(principal))
    if not created:
        response.status_code = status.HTTP_200_OK
    return LeadRead.model_validate(lead)


@router.get("", response_model=LeadPage, summary="List leads",
            description="Filter, sort (default: highest score first) and page with `cursor`.")
def list_leads(
    session: SessionDep,
    principal: ReadKey,
    dataset: Annotated[DatasetName | None, Query()] = None,
    status_: Annotated[Literal["new", "contacted", "qualified", "showing", "offer", "won", "lost"] | None,
                       Query(alias="status")] = None,
    grade: Annotated[Literal["A", "B", "C", "D"] | None, Query()] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    created_after: IsoDateTime | None = None,
    created_before: IsoDateTime | None = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search name, email or external id.")] = None,
    sort: Annotated[Literal["score", "-score", "created_at", "-created_at", "id"], Query()] = "-score",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> LeadPage:
    filters = service.LeadFilter(dataset=dataset, status=status_, grade=grade, agent_id=agent_id,
                                 min_score=min_score, max_score=max_score, created_after=created_after,
                                 created_before=created_before, source=source, search=q)
    rows, next_cursor = service.list_leads(session, filters, sort=sort, limit=limit, cursor=cursor)
    return LeadPage(items=[LeadRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{lead_id}", response_model=LeadRead, summary="Get a lead")
def get_lead(lead_id: LeadId, session: SessionDep, principal: ReadKey) -> LeadRead:
    return LeadRead.model_validate(service.get(session, lead_id))


@router.patch("/{lead_id}", response_model=LeadRead, summary="Update a lead",
              description="Only the fields sent change; the lead is rescored in the background.")
def update_lead(lead_id: LeadId, data: LeadUpdate, session: SessionDep, principal: WriteKey) -> LeadRead:
    return LeadRead.model_validate(service.update(session, lead_id, data, actor=_actor(principal)))


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a lead",
               description="Deletes the lead with its interactions, scores and outcome.")
def delete_lead(lead_id: LeadId, session: SessionDep, principal: WriteKey) -> Response:
    service.remove(session, lead_id, actor=_actor(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
