"""Load a dataset for the predictive models and train each kind (time to convert, deal value, next action).

``TRAINERS`` maps a kind to its trainer. Each trainer holds out the newest
leads by creation time, reports held-out metrics, then (``refit``) refits on
all rows for the model that gets registered. Too little data raises
``NotEnoughData`` with a note on what is missing. No database access here
after ``load_predictive_data``: ``registry.predictive`` calls the trainers with
no transaction open, and registers and promotes what they return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.core.errors import LeadscoreError
from leadscore.interactions.frames import interactions_frame
from leadscore.interactions.models import Interaction
from leadscore.leads.frames import leads_frame, outcomes_frame
from leadscore.ml.forecast import (
    DealValueModel,
    TimeToConvertModel,
    evaluate_time_model,
    evaluate_value_model,
)
from leadscore.ml.uplift import (
    ACTIONS,
    ContactHourModel,
    NextActionModel,
    Recommender,
    policy_values,
)


class NotEnoughData(LeadscoreError):
    pass


@dataclass
class PredictiveConfig:
    seed: int = 0
    exclude: tuple[str, ...] = ()
    valid_fraction: float = 0.2
    refit: bool = True  # after evaluation, refit on all data for the registered model
    timezone: str = "UTC"  # best contact hours are local hours of this zone
    min_won: int = 40
    min_actions: int = 300
    snapshot_days: float = 7.0  # value model features, as for the conversion model
    fast: bool = False  # smaller models (tests)


@dataclass
class PredictiveData:
    dataset: str
    leads: pd.DataFrame  # every lead, with outcome columns: event (0 open / 1 won / 2 lost), duration_days, ...
    interactions: pd.DataFrame | None
    actions: pd.DataFrame  # lead_id, action, acted_at, agent_id (first follow-up action per lead)
    end: pd.Timestamp


@dataclass
class Trained:
    kind: str
    model: Any
    metrics: dict[str, Any]
    algorithm: str
    params: dict[str, Any]
    n_train: int
    n_valid: int
    n_positive: int
    data_start: datetime | None = None
    data_end: datetime | None = None
    notes: str | None = None



def follow_up_actions(session: Session, *, dataset: str) -> pd.DataFrame:
    """The first outbound follow-up action per lead (``meta.action`` in ``ACTIONS``)."""
    action = Interaction.meta["action"].as_string()
    rows = session.execute(
        select(Interaction.lead_id, action, Interaction.occurred_at, Interaction.agent_id)
        .where(Interaction.dataset == dataset, Interaction.direction == "outbound", action.in_(ACTIONS))
        .order_by(Interaction.lead_id, Interaction.occurred_at)
    ).all()
    frame = pd.DataFrame(rows, columns=["lead_id", "action", "acted_at", "agent_id"])
    frame["acted_at"] = pd.to_datetime(frame["acted_at"], utc=True).dt.tz_localize(None)
    return frame.drop_duplicates("lead_id", keep="first").reset_index(drop=True)


def load_predictive_data(session: Session, *, dataset: str) -> PredictiveData:
    leads = leads_frame(session, dataset=dataset)
    if leads.empty:
        raise NotEnoughData(f"dataset {dataset!r} has no leads")
    outcomes = outcomes_frame(session, dataset=dataset)
    interactions = interactions_frame(session, dataset=dataset)
    interactions = interactions if len(interactions) else None
    leads = leads.merge(outcomes[["lead_id", "result", "closed_at", "deal_value"]], on="lead_id", how="left")
    ends = [leads["created_at"].max(), outcomes["closed_at"].max() if len(outcomes) else pd.NaT]
    if interactions is not None:
        ends.append(interactions["occurred_at"].max())
    end = max(t for t in ends if pd.notna(t))
    event = np.select([leads["result"] == "won", leads["result"] == "lost"], [1, 2], 0)
    stop = leads["closed_at"].where(event > 0, end)
    leads["event"] = event
    leads["duration_days"] = (stop - leads["created_at"]).dt.total_seconds() / 86400.0
    return PredictiveData(dataset, leads, interactions, follow_up_actions(session, dataset=dataset), end)


FEATURE_DROP = ("result", "closed_at", "deal_value", "event", "duration_days")


def _features(leads: pd.DataFrame) -> pd.DataFrame:
    """Lead columns only: outcome columns must never reach a feature builder."""
    return leads.drop(columns=[c for c in FEATURE_DROP if c in leads], errors="ignore")


def _split(created: pd.Series, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Newest ``fraction`` by creation time held out (time-aware)."""
    order = np.argsort(created.to_numpy(), kind="stable")
    n_new = max(1, int(round(fraction * len(order))))
    return np.sort(order[:-n_new]), np.sort(order[-n_new:])


def _window(leads: pd.DataFrame) -> tuple[datetime | None, datetime | None]:
    created = leads["created_at"].dropna()
    return (None, None) if created.empty else (created.min().to_pydatetime(), created.max().to_pydatetime())


def train_time_model(data: PredictiveData, config: PredictiveConfig) -> Trained:
    leads = data.leads[data.leads["duration_days"].notna() & data.leads["created_at"].notna()]
    leads = leads[leads["duration_days"] >= 0].reset_index(drop=True)
    if int((leads["event"] == 1).sum()) < config.min_won:
        raise NotEnoughData(f"time to convert needs at least {config.min_won} won leads with a closing date")
    params = {"random_state": config.seed, "exclude": tuple(config.exclude)}
    if config.fast:
        params.update(n_estimators=60, landmarks=(0, 7, 30))
    old, new = _split(leads["created_at"], config.valid_fraction)

    def fit(rows):
        part = leads.iloc[rows].reset_index(drop=True)
        return TimeToConvertModel(**params).fit(_features(part), _subset(data.interactions, part),
                                                duration_days=part["duration_days"], event=part["event"])

    held = leads.iloc[new].reset_index(drop=True)
    model = fit(old)
    metrics = evaluate_time_model(model, _features(held), _subset(data.interactions, held),
                                  duration_days=held["duration_days"], event=held["event"],
                                  follow_up_days=(data.end - held["created_at"]).dt.total_seconds() / 86400.0)
    metrics["split"] = f"time-aware holdout: newest {config.valid_fraction:.0%} of leads by created_at"
    if config.refit:
        model = fit(np.arange(len(leads)))
    start, end = _window(leads)
    return Trained("time_to_convert", model, metrics, "lightgbm-discrete-hazard",
                   {**_jsonable(model.get_params()), "lost": "competing event", "open": "censored at data end"},
                   len(leads), int(metrics.get("n", 0)), int((leads["event"] == 1).sum()), start, end)


def train_value_model(data: PredictiveData, config: PredictiveConfig) -> Trained:
    won = data.leads[(data.leads["event"] == 1) & data.leads["deal_value"].notna()]
    won = won[won["deal_value"] > 0].reset_index(drop=True)
    if len(won) < max(config.min_won, 40):
        raise NotEnoughData(
            f"deal value skipped: {len(won)} won leads have a deal value (need {max(config.min_won, 40)}); "
            "import outcomes with deal_value to enable it")
    params = {"random_state": config.seed, "exclude": tuple(config.exclude)}
    if config.fast:
        params.update(n_estimators=80)
    snapshot = _snapshot(won, config)
    old, new = _split(won["created_at"], config.valid_fraction)

    def fit(rows):
        part = won.iloc[rows].reset_index(drop=True)
        return DealValueModel(**params).fit(_features(part), _subset(data.interactions, part),
                                            part["deal_value"].to_numpy(), as_of=snapshot[rows])

    model = fit(old)
    held = won.iloc[new].reset_index(drop=True)
    metrics = evaluate_value_model(model, _features(held), _subset(data.interactions, held),
                                   held["deal_value"].to_numpy(), as_of=snapshot[new])
    metrics["split"] = f"time-aware holdout: newest {config.valid_fraction:.0%} of won leads by created_at"
    if config.refit:
        model = fit(np.arange(len(won)))
    start, end = _window(won)
    return Trained("deal_value", model, metrics, "lightgbm-quantile-cqr", _jsonable(model.get_params()),
                   len(won), int(metrics.get("n", 0)), len(won), start, end)


def train_action_model(data: PredictiveData, config: PredictiveConfig) -> Trained:
    closed = data.leads[data.leads["event"] > 0]
    rows = data.actions.merge(closed, on="lead_id", how="inner").sort_values("created_at", kind="stable")
    rows = rows.reset_index(drop=True)
    if len(rows) < config.min_actions or rows["action"].nunique() < 2:
        raise NotEnoughData(
            f"next action skipped: {len(rows)} closed leads have a recorded follow-up action "
            f"(interactions with meta.action in {', '.join(ACTIONS)}; need {config.min_actions})")
    params = {"random_state": config.seed, "exclude": tuple(config.exclude)}
    if config.fast:
        params.update(nuisance_estimators=60, final_estimators=40, final_min_child_samples=50)
    y = (rows["event"] == 1).to_numpy(dtype=int)
    old, new = _split(rows["created_at"], config.valid_fraction)

    def fit(index):
        part = rows.iloc[index].reset_index(drop=True)
        return NextActionModel(**params).fit(
            _features(part.drop(columns=["action", "acted_at", "agent_id"])), _subset(data.interactions, part),
            action=part["action"], acted_at=part["acted_at"].to_numpy(), y=y[index], agent=part["agent_id"])

    model = fit(old)
    held = rows.iloc[new].reset_index(drop=True)
    metrics = policy_values(model, _features(held.drop(columns=["action", "acted_at", "agent_id"])),
                            _subset(data.interactions, held), action=held["action"],
                            acted_at=held["acted_at"].to_numpy(), y=y[new], agent=held["agent_id"])
    metrics["split"] = "time-aware holdout: newest closed leads with an action; doubly robust policy values"
    if config.refit:
        model = fit(np.arange(len(rows)))
    hours = ContactHourModel(timezone=config.timezone).fit(_features(data.leads), data.interactions)
    start, end = _window(rows)
    return Trained("next_action", Recommender(model, hours), metrics, "dr-learner-lightgbm",
                   {**_jsonable(model.get_params()), "timezone": config.timezone,
                    "action_counts": model.action_counts_},
                   len(rows), int(metrics.get("n", 0)), int(y.sum()), start, end)


def _snapshot(leads: pd.DataFrame, config: PredictiveConfig) -> np.ndarray:
    snap = leads["created_at"] + pd.Timedelta(days=config.snapshot_days)
    closed = leads["closed_at"] if "closed_at" in leads else snap
    return snap.where(closed.isna() | (snap < closed), closed).to_numpy()


def _subset(interactions: pd.DataFrame | None, leads: pd.DataFrame) -> pd.DataFrame | None:
    if interactions is None:
        return None
    return interactions[interactions["lead_id"].isin(leads["lead_id"])]


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()
            if isinstance(v, (int, float, str, bool, tuple, list, type(None)))}


TRAINERS: dict[str, Callable[[PredictiveData, PredictiveConfig], Trained]] = {
    "time_to_convert": train_time_model,
    "deal_value": train_value_model,
    "next_action": train_action_model,
}
