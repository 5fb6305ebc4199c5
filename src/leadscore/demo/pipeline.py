"""After the demo world is built: models, scores, forecasts, dashboard statistics and logins.

``leadscore demo`` runs these steps so that a new user who logs in as any role
finds every panel filled with numbers from the models:

1. **history** — a conversion model trained only on what was known ``history_weeks``
   weeks before the world's end (leads closed by then, interactions before then),
   promoted, and used to score the leads open at each week since, with features as
   of that week (``scored_at`` = that week). These are out-of-sample scores given
   *before* the outcomes, which is what the admin page's realised accuracy and
   calibration need: without them every score is given after the last outcome and
   nothing is measurable until new leads close.
2. **train** — the conversion model on all closed leads plus the predictive models
   (time to convert, deal value, next action), through the same job as
   ``leadscore train``; the usual promotion rule decides whether it replaces the
   history model.
3. **score** — every lead rescored with the champion, forecasts and recommendations
   refreshed for the open ones (the same job as ``leadscore score``).
4. **statistics** — the dashboard snapshots (behaviour, admin aggregates).
5. **logins** — one user per role: an agent linked to the demo agent with the most
   open leads, a manager and an admin.

Every function here is a job: it owns its transactions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from leadscore.agents.models import Agent
from leadscore.core.database import session_scope
from leadscore.demo.world import DATASET
from leadscore.interactions.frames import interactions_frame
from leadscore.leads.frames import leads_frame
from leadscore.leads.models import Lead, Outcome
from leadscore.ml import TrainingConfig
from leadscore.registry import service as registry
from leadscore.registry import training
from leadscore.registry.tasks import TrainingResult, run_training_job
from leadscore.scoring import service as scoring
from leadscore.scoring.batch import BatchSummary, rescore_dataset
from leadscore.web import service as users
from leadscore.web.models import User

Progress = Callable[[str, float], None]
ROLES = ("agent", "manager", "admin")
EMAIL = "demo-{role}@example.com"


@dataclass
class HistoryResult:
    version: int
    version_id: int
    cutoff: datetime
    trained_on: int
    weeks: int
    scores: int


@dataclass
class Login:
    role: str
    email: str
    name: str
    agent: str | None
    created: bool


def world_end(session: Session, dataset: str = DATASET) -> datetime:
    return session.scalar(select(func.max(Lead.created_at)).where(Lead.dataset == dataset))


def train_history_model(sessions: sessionmaker[Session], *, weeks: int, seed: int = 0,
                        dataset: str = DATASET, progress: Progress | None = None) -> HistoryResult | None:
    """Train on what was known ``weeks`` weeks before the end, promote it, and replay its weekly scoring
    of the then-open leads up to the end. None if too little had closed by then."""
    with session_scope(sessions, write=False) as session:
        end = world_end(session, dataset)
        if end is None:
            return None
        cutoff = end - timedelta(weeks=weeks)
        data = training.load_training_data(session, dataset=dataset)
    naive_cutoff = pd.Timestamp(cutoff).tz_convert("UTC").tz_localize(None)
    known = (data.closed_at < naive_cutoff).to_numpy()
    if known.sum() < 200 or data.y[known].sum() < 40:
        return None
    leads = data.leads[known].reset_index(drop=True)
    interactions = data.interactions
    if interactions is not None:
        interactions = interactions[interactions["lead_id"].isin(leads["lead_id"])
                                    & (interactions["occurred_at"] < naive_cutoff)].reset_index(drop=True)
    past = training.TrainingData(dataset=dataset, leads=leads, y=data.y[known],
                                 closed_at=data.closed_at[known].reset_index(drop=True), interactions=interactions,
                                 recorded_at=data.recorded_at[known].reset_index(drop=True))
    candidate = training.train(past, TrainingConfig(seed=seed), progress)
    with session_scope(sessions) as session:
        version = training.register_candidate(session, candidate)
        version.notes = (f"demo history: trained on the {len(past.y):,} leads closed before {cutoff:%Y-%m-%d}, "
                         f"then scored the open leads weekly up to {end:%Y-%m-%d}")
        registry.promote(session, version.id, actor="demo", reason="demo history model")
        version_id, number = version.id, version.version
    model = candidate.artifact.model
    replay = _replay_frames(sessions, dataset, cutoff)
    scores = 0
    for week in range(1, weeks + 1):
        scores += _score_open_at(sessions, model, version_id, cutoff + timedelta(weeks=week), *replay)
        if progress:
            progress(f"replaying week {week} of {weeks}", week / weeks)
    return HistoryResult(number, version_id, cutoff, len(past.y), weeks, scores)


def _replay_frames(sessions: sessionmaker[Session], dataset: str,
                   cutoff: datetime) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Every lead open at some point after ``cutoff`` (profiling allowed), its closing time, its interactions:
    loaded once, then sliced per week in memory."""
    with session_scope(sessions, write=False) as session:
        rows = session.execute(
            select(Lead.id, Outcome.closed_at).outerjoin(Outcome, Outcome.lead_id == Lead.id)
            .where(Lead.dataset == dataset, Lead.consent_profiling.is_(True),
                   or_(Outcome.closed_at.is_(None), Outcome.closed_at > cutoff))
            .order_by(Lead.id)).all()
        ids = [r.id for r in rows]
        leads = leads_frame(session, dataset=dataset, lead_ids=ids)
        interactions = interactions_frame(session, dataset=dataset, lead_ids=ids)
    closed = pd.Series(pd.to_datetime([r.closed_at for r in rows], utc=True).tz_localize(None), index=ids)
    return leads, closed.reindex(leads["lead_id"]).reset_index(drop=True), interactions


def _score_open_at(sessions: sessionmaker[Session], model, version_id: int, at: datetime,  # noqa: ANN001
                   leads: pd.DataFrame, closed_at: pd.Series, interactions: pd.DataFrame) -> int:
    """Score the leads that were open at ``at`` (arrived, not yet closed) with what was known then.

    History rows carry no reason sentences (only a lead's current score shows them)."""
    when = pd.Timestamp(at).tz_convert("UTC").tz_localize(None)
    mask = ((leads["created_at"] < when) & (closed_at.isna() | (closed_at > when))).to_numpy()
    open_leads = leads[mask].reset_index(drop=True)
    if open_leads.empty:
        return 0
    known = interactions[interactions["lead_id"].isin(open_leads["lead_id"]) & (interactions["occurred_at"] < when)]
    scored = model.score(open_leads, known if len(known) else None, as_of=np.datetime64(when.to_datetime64(), "ns"),
                         reasons=False)
    records = [scoring.ScoreRecord(lead_id=int(r.lead_id), probability=float(r.probability), score=int(round(r.score)),
                                   grade=str(r.grade), reasons={}) for r in scored.itertuples(index=False)]
    with session_scope(sessions) as session:
        scoring.store(session, records, model_version_id=version_id, scored_at=at)
    return len(records)


def train_models(sessions: sessionmaker[Session], *, seed: int = 0, tolerance: float = 0.005,
                 dataset: str = DATASET, progress: Progress | None = None) -> TrainingResult:
    """The conversion model on everything, then the predictive models (``leadscore train``'s job)."""
    return run_training_job(sessions, dataset=dataset, config=TrainingConfig(seed=seed), trigger="demo",
                            actor="demo", tolerance=tolerance, progress=progress)


def score_all(sessions: sessionmaker[Session], *, min_delta: int = 5, dataset: str = DATASET,
              progress: Callable[[int, int], None] | None = None) -> BatchSummary:
    """Every lead with the champion; forecasts and next actions for the open ones."""
    return rescore_dataset(sessions, dataset=dataset, min_delta=min_delta, progress=progress)


def refresh_statistics(sessions: sessionmaker[Session], *, dataset: str = DATASET) -> dict[str, str]:
    from leadscore.insights.tasks import refresh_snapshots

    return refresh_snapshots(sessions, dataset=dataset, force=True)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def create_logins(sessions: sessionmaker[Session], *, password: str, dataset: str = DATASET) -> list[Login]:
    """One login per role; an existing demo login gets the new password (and its agent link back)."""
    out = []
    with session_scope(sessions) as session:
        busiest = session.execute(
            select(Agent.id, Agent.name).join(Lead, Lead.agent_id == Agent.id)
            .where(Agent.dataset == dataset, Agent.active.is_(True), Lead.status.not_in(("won", "lost")))
            .group_by(Agent.id, Agent.name).order_by(func.count().desc(), Agent.id).limit(1)).first()
        for role in ROLES:
            email = EMAIL.format(role=role)
            agent_id = busiest.id if role == "agent" and busiest is not None else None
            if role == "agent" and agent_id is None:
                continue  # no agent with open leads to link to
            name = busiest.name if role == "agent" else f"Demo {role.title()}"
            existing = session.scalar(select(User).where(User.email == email))
            if existing is None:
                users.create_user(session, email=email, name=name, role=role, password=password, agent_id=agent_id,
                                  actor="demo")
            else:
                users.set_password(session, email, password, actor="demo")
                existing.name, existing.role, existing.agent_id, existing.active = name, role, agent_id, True
            out.append(Login(role, email, name, busiest.name if role == "agent" else None, existing is None))
    return out
