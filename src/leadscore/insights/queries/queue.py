"""An agent's queue of open leads and one lead's detail: what the agent pages show.

The queue sorts by expected value (P(convert) × expected deal value, from
``lead_predictions``); leads without a forecast yet come after those with one,
ordered by score, and the page says so instead of inventing a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from leadscore.agents.models import Agent
from leadscore.insights.models import LeadPrediction
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.scoring.models import Score
from leadscore.web.schemas import QueueView

TIMELINE_PER_LEAD = 5

PREDICTION_FIELDS = ("p_convert_30d", "p_convert_60d", "p_convert_90d", "median_days_to_convert",
                     "deal_value_p10", "deal_value_p50", "deal_value_p90", "expected_value", "next_action",
                     "next_action_uplift", "best_contact_hour")


@dataclass
class QueueRow:
    id: int
    name: str
    status: str
    source: str | None
    created_at: datetime | None
    score: int | None
    grade: str | None
    prediction: dict[str, Any] | None
    trend: int | None = None
    reasons_for: list[str] = field(default_factory=list)
    reasons_against: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    with_forecast: int


def display_name(first: str | None, last: str | None, lead_id: int) -> str:
    name = " ".join(p for p in (first, last) if p)
    return name or f"Lead #{lead_id}"


def _filtered(view: QueueView, *, agent_id: int | None, dataset: str | None) -> Select:
    query = select(Lead.id).outerjoin(LeadPrediction, LeadPrediction.lead_id == Lead.id)
    conditions = [Lead.status.in_(view.status)]
    if agent_id is not None:
        conditions.append(Lead.agent_id == agent_id)
    if dataset is not None:
        conditions.append(Lead.dataset == dataset)
    if view.grade:
        conditions.append(Lead.current_grade.in_(view.grade))
    if view.min_score is not None:
        conditions.append(Lead.current_score >= view.min_score)
    if view.source:
        conditions.append(Lead.source == view.source)
    if view.intent:
        conditions.append(Lead.intent == view.intent)
    return query.where(*conditions)


def _order(view: QueueView) -> list[Any]:
    ev, score, p30 = LeadPrediction.expected_value, Lead.current_score, LeadPrediction.p_convert_30d
    by_score = [score.is_(None), score.desc()]
    if view.sort == "expected_value":
        return [ev.is_(None), ev.desc(), *by_score, Lead.id]
    if view.sort == "p_convert_30d":
        return [p30.is_(None), p30.desc(), *by_score, Lead.id]
    if view.sort == "newest":
        return [Lead.created_at.is_(None), Lead.created_at.desc(), Lead.id.desc()]
    if view.sort == "oldest":
        return [Lead.created_at.is_(None), Lead.created_at.asc(), Lead.id]
    return [*by_score, Lead.id]


def queue(session: Session, view: QueueView, *, agent_id: int | None, dataset: str | None = None,
          page: int = 1) -> QueuePage:
    """One page of the queue with everything its rows show (4 queries whatever the page size)."""
    base = _filtered(view, agent_id=agent_id, dataset=dataset)
    counted = base.with_only_columns(Lead.id, LeadPrediction.lead_id.label("forecast")).subquery()
    counts = session.execute(select(func.count(), func.count(counted.c.forecast))).one()
    total, with_forecast = int(counts[0]), int(counts[1])
    pages = max(1, -(-total // view.page_size))
    page = min(max(page, 1), pages)
    query = (
        base.with_only_columns(Lead.id, Lead.first_name, Lead.last_name, Lead.status, Lead.source, Lead.created_at,
                               Lead.current_score, Lead.current_grade,
                               *[getattr(LeadPrediction, f) for f in PREDICTION_FIELDS], LeadPrediction.lead_id)
        .order_by(*_order(view)).limit(view.page_size).offset((page - 1) * view.page_size)
    )
    rows = []
    for r in session.execute(query):
        prediction = {f: getattr(r, f) for f in PREDICTION_FIELDS} if r[-1] is not None else None
        rows.append(QueueRow(id=r.id, name=display_name(r.first_name, r.last_name, r.id), status=r.status,
                             source=r.source, created_at=r.created_at, score=r.current_score,
                             grade=r.current_grade, prediction=prediction))
    ids = [row.id for row in rows]
    latest = latest_scores(session, ids)
    timelines = recent_interactions(session, ids, per_lead=TIMELINE_PER_LEAD)
    for row in rows:
        score = latest.get(row.id)
        if score is not None:
            row.trend = score.delta
            row.reasons_for, row.reasons_against = reason_sentences(score.reasons)
        row.timeline = timelines.get(row.id, [])
    return QueuePage(rows=rows, total=total, page=page, pages=pages, with_forecast=with_forecast)


def latest_scores(session: Session, lead_ids: list[int]) -> dict[int, Score]:
    """The newest shown (non-shadow) score of each lead."""
    if not lead_ids:
        return {}
    newest = (
        select(Score.lead_id, func.max(Score.id).label("id"))
        .where(Score.lead_id.in_(lead_ids), Score.shadow.is_(False)).group_by(Score.lead_id).subquery()
    )
    return {s.lead_id: s for s in session.scalars(select(Score).join(newest, newest.c.id == Score.id))}


def reason_sentences(reasons: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    reasons = reasons or {}
    def sentences(key: str) -> list[str]:
        return [str(item.get("sentence")) for item in reasons.get(key) or [] if item.get("sentence")]
    return sentences("top_positive"), sentences("top_negative")


def recent_interactions(session: Session, lead_ids: list[int], *, per_lead: int) -> dict[int, list[dict[str, Any]]]:
    if not lead_ids:
        return {}
    rank = func.row_number().over(partition_by=Interaction.lead_id,
                                  order_by=(Interaction.occurred_at.desc(), Interaction.id.desc())).label("rank")
    inner = (
        select(Interaction.lead_id, Interaction.type, Interaction.occurred_at, Interaction.direction,
               Interaction.channel, rank)
        .where(Interaction.lead_id.in_(lead_ids)).subquery()
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for r in session.execute(select(inner).where(inner.c.rank <= per_lead).order_by(inner.c.lead_id, inner.c.rank)):
        out.setdefault(r.lead_id, []).append(
            {"type": r.type, "occurred_at": r.occurred_at, "direction": r.direction, "channel": r.channel})
    return out


@dataclass
class LeadDetail:
    lead: Lead
    agent_name: str | None
    name: str
    prediction: LeadPrediction | None
    outcome: Outcome | None
    reasons_for: list[str]
    reasons_against: list[str]
    trend: int | None
    history: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


def lead_detail(session: Session, lead_id: int, *, timeline_limit: int = 60) -> LeadDetail | None:
    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    agent_name = session.scalar(select(Agent.name).where(Agent.id == lead.agent_id)) if lead.agent_id else None
    latest = latest_scores(session, [lead_id]).get(lead_id)
    reasons_for, reasons_against = reason_sentences(latest.reasons if latest else None)
    history = [
        {"scored_at": s.scored_at, "score": s.score, "grade": s.grade}
        for s in session.scalars(select(Score).where(Score.lead_id == lead_id, Score.shadow.is_(False))
                                 .order_by(Score.scored_at, Score.id).limit(500))
    ]
    timeline = [
        {"type": r.type, "occurred_at": r.occurred_at, "direction": r.direction, "channel": r.channel,
         "meta": r.meta or {}}
        for r in session.scalars(select(Interaction).where(Interaction.lead_id == lead_id)
                                 .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(timeline_limit))
    ]
    return LeadDetail(
        lead=lead, agent_name=agent_name, name=display_name(lead.first_name, lead.last_name, lead.id),
        prediction=session.get(LeadPrediction, lead_id),
        outcome=session.scalar(select(Outcome).where(Outcome.lead_id == lead_id)),
        reasons_for=reasons_for, reasons_against=reasons_against, trend=latest.delta if latest else None,
        history=history, timeline=timeline,
    )


def lead_owner(session: Session, lead_id: int) -> tuple[bool, int | None]:
    """(exists, agent_id) without loading the lead: the access check runs before anything else."""
    row = session.execute(select(Lead.agent_id).where(Lead.id == lead_id)).first()
    return (row is not None, row[0] if row else None)


def sources(session: Session, *, agent_id: int | None, dataset: str | None) -> list[str]:
    """Lead sources for the filter's drop-down (distinct over an indexed subset)."""
    conditions = [Lead.source.is_not(None)]
    if agent_id is not None:
        conditions.append(Lead.agent_id == agent_id)
    if dataset is not None:
        conditions.append(Lead.dataset == dataset)
    return list(session.scalars(select(Lead.source).where(and_(*conditions)).distinct().order_by(Lead.source)))
