"""The manager's numbers: pipeline and funnel, forecasts with uncertainty, agent performance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from leadscore.agents.models import Agent
from leadscore.insights.models import LeadPrediction
from leadscore.insights.queries.common import OPEN_STATUSES, anchor, minutes_between
from leadscore.interactions.models import Interaction
from leadscore.leads.models import LEAD_STATUSES, Lead, Outcome

Z95 = 1.959964
Z_P90 = 1.281552  # P90 of a standard normal: P10..P90 spans ±1.2816 σ


def pipeline(session: Session, dataset: str) -> dict[str, int]:
    rows = dict(session.execute(select(Lead.status, func.count()).where(Lead.dataset == dataset)
                                .group_by(Lead.status)).all())
    return {status: int(rows.get(status, 0)) for status in LEAD_STATUSES}


def funnel(session: Session, dataset: str) -> list[tuple[str, int]]:
    """How many of the dataset's leads ever reached each stage, from what happened to them
    (interactions and outcomes), not from their current status, which forgets the stages a
    lost lead passed through."""
    total = session.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == dataset)) or 0
    by_type = dict(session.execute(
        select(Interaction.type, func.count(func.distinct(Interaction.lead_id)))
        .where(Interaction.dataset == dataset, Interaction.type.in_(("showing", "offer", "email_reply")))
        .group_by(Interaction.type)
    ).all())
    won = session.scalar(select(func.count()).select_from(Outcome).join(Lead, Lead.id == Outcome.lead_id)
                         .where(Lead.dataset == dataset, Outcome.result == "won")) or 0
    return [("Arrived", int(total)), ("Had a showing", int(by_type.get("showing", 0))),
            ("Made an offer", int(by_type.get("offer", 0))), ("Won", int(won))]


@dataclass
class Forecast:
    horizon: int
    leads: int
    conversions: float
    conversions_low: float
    conversions_high: float
    revenue: float
    revenue_low: float
    revenue_high: float


@dataclass
class ForecastSummary:
    open_leads: int
    with_prediction: int
    horizons: list[Forecast]
    with_value: int


def forecast(session: Session, dataset: str) -> ForecastSummary:
    """Expected conversions and revenue in the next 30/60/90 days over open leads.

    Conversions: the sum of P(convert within N days); its 95 % interval uses the
    Poisson-binomial variance Σ p(1−p) (leads independent) with a normal
    approximation. Revenue: Σ p × P50 deal value; the interval treats each deal
    value as log-normal fitted to its P10/P50/P90 and adds the variance of
    every lead's p × value term (Bernoulli × log-normal), again normal-approximated.
    """
    open_leads = session.scalar(select(func.count()).select_from(Lead)
                                .where(Lead.dataset == dataset, Lead.status.in_(OPEN_STATUSES))) or 0
    rows = session.execute(
        select(LeadPrediction.p_convert_30d, LeadPrediction.p_convert_60d, LeadPrediction.p_convert_90d,
               LeadPrediction.deal_value_p10, LeadPrediction.deal_value_p50, LeadPrediction.deal_value_p90)
        .join(Lead, Lead.id == LeadPrediction.lead_id)
        .where(Lead.dataset == dataset, Lead.status.in_(OPEN_STATUSES))
    ).all()
    if not rows:
        return ForecastSummary(int(open_leads), 0, [], 0)
    # Plain tuples: numpy walks SQLAlchemy Rows element by element, ten times slower. None -> nan.
    data = np.array([tuple(r) for r in rows], dtype=float)
    value_p10, value_p50, value_p90 = data[:, 3], data[:, 4], data[:, 5]
    has_value = np.isfinite(value_p50) & (value_p50 > 0)
    mu = np.log(np.where(has_value, value_p50, 1.0))
    spread = np.where(has_value & np.isfinite(value_p10) & np.isfinite(value_p90) & (value_p10 > 0),
                      (np.log(np.maximum(value_p90, 1.0)) - np.log(np.maximum(value_p10, 1.0))) / (2 * Z_P90), 0.0)
    mean_v = np.exp(mu + spread**2 / 2)
    second_v = np.exp(2 * mu + 2 * spread**2)
    horizons = []
    for column, days in ((0, 30), (1, 60), (2, 90)):
        p = data[:, column]
        known = np.isfinite(p)
        p = np.clip(np.where(known, p, 0.0), 0.0, 1.0)
        expected = float(p.sum())
        sd = math.sqrt(float((p * (1 - p)).sum()))
        pv = has_value & known
        revenue = float((p[pv] * value_p50[pv]).sum())
        variance = float((p[pv] * second_v[pv] - (p[pv] * mean_v[pv]) ** 2).sum())
        rsd = math.sqrt(max(variance, 0.0))
        horizons.append(Forecast(days, int(known.sum()), expected, max(0.0, expected - Z95 * sd), expected + Z95 * sd,
                                 revenue, max(0.0, revenue - Z95 * rsd), revenue + Z95 * rsd))
    return ForecastSummary(int(open_leads), len(rows), horizons, int(has_value.sum()))


@dataclass
class AgentPerformance:
    agent_id: int
    name: str
    team: str | None
    active: bool
    open_leads: int
    capacity: int
    closed: int
    won: int
    conversion: float | None
    median_response_minutes: float | None
    responded: int
    arrived_recently: int


def agent_performance(session: Session, dataset: str, *, response_window_days: int = 90) -> list[AgentPerformance]:
    """Per agent: load (open leads vs capacity), conversion of closed leads, and the median
    time to the first outbound contact for leads that arrived in the last ``response_window_days``."""
    agents = session.execute(select(Agent.id, Agent.name, Agent.team, Agent.active, Agent.capacity)
                             .where(Agent.dataset == dataset).order_by(Agent.name)).all()
    load = dict(session.execute(select(Lead.agent_id, func.count()).where(
        Lead.dataset == dataset, Lead.status.in_(OPEN_STATUSES), Lead.agent_id.is_not(None)).group_by(Lead.agent_id)).all())
    closed = {r[0]: (int(r[1]), int(r[2] or 0)) for r in session.execute(
        select(Lead.agent_id, func.count(), func.sum(case((Outcome.result == "won", 1), else_=0)))
        .join(Outcome, Outcome.lead_id == Lead.id).where(Lead.dataset == dataset).group_by(Lead.agent_id))}
    since = anchor(session, dataset) - timedelta(days=response_window_days)
    # ORDER BY ... LIMIT 1 walks the (lead_id, occurred_at) index and stops at the first hit.
    first_contact = (
        select(Interaction.occurred_at).where(Interaction.lead_id == Lead.id, Interaction.direction == "outbound")
        .order_by(Interaction.occurred_at).limit(1).scalar_subquery()
    )
    response: dict[int, list[float]] = {}
    arrived: dict[int, int] = {}
    for agent_id, minutes in session.execute(
        select(Lead.agent_id, minutes_between(session, Lead.created_at, first_contact))
        .where(Lead.dataset == dataset, Lead.created_at >= since, Lead.agent_id.is_not(None))
    ):
        arrived[agent_id] = arrived.get(agent_id, 0) + 1
        if minutes is not None and minutes >= 0:
            response.setdefault(agent_id, []).append(float(minutes))
    out = []
    for a in agents:
        n_closed, n_won = closed.get(a.id, (0, 0))
        minutes = response.get(a.id, [])
        out.append(AgentPerformance(
            agent_id=a.id, name=a.name, team=a.team, active=a.active, open_leads=int(load.get(a.id, 0)),
            capacity=a.capacity, closed=n_closed, won=n_won, conversion=n_won / n_closed if n_closed else None,
            median_response_minutes=float(np.median(minutes)) if minutes else None, responded=len(minutes),
            arrived_recently=arrived.get(a.id, 0)))
    return out
