"""The agent's pages: the prioritised queue (with the user's saved view) and a lead's detail.

Access rule, enforced here on the server: an agent sees only leads whose
``agent_id`` is their own; another agent's lead answers 404, as if it did not
exist, so ids cannot be probed. Managers and admins see every lead.
"""

from __future__ import annotations

import json

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from leadscore.agents.models import Agent
from leadscore.core.deps import SessionDep
from leadscore.core.routes import hand_to_thread
from leadscore.core.routes import router as api_router
from leadscore.insights import service as insights
from leadscore.leads.models import INTENTS, LEAD_STATUSES
from leadscore.web import service
from leadscore.web.api import render
from leadscore.web.auth import CsrfUserDep, PageError, UserDep
from leadscore.web.charts import score_history_chart
from leadscore.web.schemas import GRADES, QUEUE_COLUMNS, SORT_LABELS

router = api_router(include_in_schema=False)


def _scope(session: SessionDep, user, agent_id: int | None, dataset: str | None):  # noqa: ANN001, ANN202
    """(agent_id, dataset, agents to pick from) the queue shows for this user."""
    if user.role == "agent":
        return user.agent_id, None, []  # their own leads, whatever the URL asks for
    sets = insights.datasets(session)
    dataset = dataset if dataset in {d for d, _ in sets} else (sets[0][0] if sets else None)
    agents = session.execute(select(Agent.id, Agent.name).where(Agent.dataset == dataset).order_by(Agent.name)).all()
    if agent_id is not None and agent_id not in {a.id for a in agents}:
        agent_id = None
    return agent_id, dataset, agents


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, user: UserDep, page: int = Query(1, ge=1, le=100_000),
               agent_id: int | None = None, dataset: str | None = Query(None, max_length=64)) -> HTMLResponse:
    view = service.get_view(session, user.id)
    agent_id, dataset, agents = _scope(session, user, agent_id, dataset)
    result = insights.queue_page(session, view, agent_id=agent_id, dataset=dataset, page=page)
    return render(request, "queue.html", user, view=view, result=result, columns=QUEUE_COLUMNS,
                  sorts=SORT_LABELS, statuses=LEAD_STATUSES, grades=GRADES, intents=INTENTS,
                  sources=insights.queue_sources(session, agent_id=agent_id, dataset=dataset),
                  agents=agents, agent_id=agent_id, dataset=dataset)


@router.post("/queue/view")
async def save_queue_view(request: Request, session: SessionDep, user: CsrfUserDep) -> RedirectResponse:
    form = await request.form()
    data = {
        "columns": form.getlist("columns"),
        "status": form.getlist("status"),
        "grade": form.getlist("grade"),
        "min_score": form.get("min_score") or None,
        "source": form.get("source") or None,
        "intent": form.get("intent") or None,
        "sort": form.get("sort") or "expected_value",
        "page_size": form.get("page_size") or 50,
    }
    try:
        # In a worker thread: the form is read on the event loop, but a write may wait seconds for
        # SQLite's write lock, and on the loop that wait stalled every other request.
        await hand_to_thread(service.save_view, session, user.id, data)
    except Exception as exc:  # the service's Problem: show it as a page, not JSON
        detail = getattr(exc, "detail", None)
        if detail is None:
            raise
        raise PageError(422, detail) from None
    back = str(form.get("back") or "/queue")
    return RedirectResponse(back if back.startswith("/queue") else "/queue", status_code=303)


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(request: Request, session: SessionDep, user: UserDep, lead_id: int) -> HTMLResponse:
    exists, owner = insights.lead_owner(session, lead_id)
    if not exists or (user.role == "agent" and owner != user.agent_id):
        raise PageError(404, f"There is no lead {lead_id} in your queue.")
    detail = insights.lead_detail(session, lead_id)
    chart = score_history_chart(detail.history)
    return render(request, "lead.html", user, d=detail, chart=json.dumps(chart) if chart else None)
