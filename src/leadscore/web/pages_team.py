"""The manager's pages: team pipeline, forecasts and agent performance; behavioural analysis."""

from __future__ import annotations

import json

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leadscore.core.deps import RuntimeDep, SessionDep
from leadscore.core.routes import router as api_router
from leadscore.core.runtime import Runtime
from leadscore.insights import service as insights
from leadscore.insights import snapshots
from leadscore.insights import tasks as insights_tasks
from leadscore.insights.queries.behaviour import LISTING_VIEWS, MIN_GROUP, WINDOW_DAYS
from leadscore.web.api import render
from leadscore.web.auth import ManagerDep
from leadscore.web.charts import agent_chart, funnel_chart

router = api_router(include_in_schema=False)


def pick_dataset(session: Session, requested: str | None) -> tuple[str | None, list[tuple[str, int]]]:
    sets = insights.datasets(session)
    names = [d for d, _ in sets]
    return (requested if requested in names else (names[0] if names else None)), sets


@router.get("/team", response_class=HTMLResponse)
def team_page(request: Request, session: SessionDep, user: ManagerDep,
              dataset: str | None = Query(None, max_length=64)) -> HTMLResponse:
    dataset, sets = pick_dataset(session, dataset)
    if dataset is None:
        return render(request, "team.html", user, dataset=None, datasets=sets)
    agents = insights.agent_performance(session, dataset)
    stages = insights.funnel(session, dataset)
    return render(request, "team.html", user, dataset=dataset, datasets=sets,
                  pipeline=insights.pipeline(session, dataset), funnel=stages,
                  funnel_chart=json.dumps(funnel_chart(stages)), forecast=insights.forecast(session, dataset),
                  agents=agents, agent_chart=json.dumps(agent_chart(agents)))


@router.get("/team/behaviour", response_class=HTMLResponse)
def behaviour_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: ManagerDep,
                   dataset: str | None = Query(None, max_length=64)) -> HTMLResponse:
    dataset, sets = pick_dataset(session, dataset)
    snapshot, stale = latest_snapshot(session, runtime, dataset, "behaviour")
    rows, closed, won = insights.behaviour_rows(snapshot) if snapshot else ([], 0, 0)
    return render(request, "behaviour.html", user, dataset=dataset, datasets=sets, rows=rows, closed=closed,
                  won=won, window_days=WINDOW_DAYS, listing_views=LISTING_VIEWS, min_group=MIN_GROUP,
                  snapshot=snapshot, stale=stale, refresh_minutes=insights_tasks.REFRESH_MINUTES)


def latest_snapshot(session: Session, runtime: Runtime, dataset: str | None,
                    kind: str) -> tuple[snapshots.Snapshot | None, bool]:
    """(snapshot, stale): the background job's latest statistics for the page; if it has not
    produced any yet, they are computed and stored once, here (the only slow first load)."""
    if dataset is None:
        return None, False
    found = insights.snapshot(session, dataset, kind)
    if found is None:
        return insights_tasks.ensure_snapshot(runtime.sessions, dataset, kind), False
    return found, insights.snapshot_is_stale(session, found)
