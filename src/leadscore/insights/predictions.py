"""Compute and store ``lead_predictions`` rows: forecasts and the next best action per open lead.

Uses the champion of each predictive kind (``time_to_convert``, ``deal_value``,
``next_action``) of the lead's dataset; a kind without a champion leaves its
columns empty. Only open leads (status not won/lost) that allow profiling get
a row; a lead that closed or opted out loses its row on the next refresh.
Features are taken as of ``as_of`` (default: now). Services flush, never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from leadscore.core.bulk import upsert_rows
from leadscore.core.database import utcnow
from leadscore.insights.models import LeadPrediction
from leadscore.interactions.frames import interaction_records, interactions_frame
from leadscore.leads.frames import attribute_types, lead_record, leads_frame, naive_utc
from leadscore.leads.models import Lead
from leadscore.registry import service as registry

log = logging.getLogger(__name__)

KINDS = ("time_to_convert", "deal_value", "next_action")
CLOSED = ("won", "lost")
COLUMNS = {
    "time_to_convert": ("p_convert_30d", "p_convert_60d", "p_convert_90d", "median_days_to_convert"),
    "deal_value": ("deal_value_p10", "deal_value_p50", "deal_value_p90"),
    "next_action": ("next_action", "next_action_uplift", "best_contact_hour"),
}
VERSION_COLUMN = {"time_to_convert": "time_model_version_id", "deal_value": "value_model_version_id",
                  "next_action": "action_model_version_id"}


@dataclass
class Champions:
    """Loaded champion models of a dataset, by kind (absent kinds have no champion)."""

    models: dict[str, Any] = field(default_factory=dict)
    version_ids: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.models)


def load_champions(session: Session, *, dataset: str, load: Callable[[int], Any] | None = None) -> Champions:
    """``load(version_id) -> model`` lets the real-time path reuse its model cache."""
    champions = Champions()
    for kind in KINDS:
        version = registry.get_champion(session, kind=kind, dataset=dataset)
        if version is None:
            continue
        champions.models[kind] = load(version.id) if load else registry.load_model(session, version).model
        champions.version_ids[kind] = version.id
    return champions


def _naive(as_of: datetime | None) -> pd.Timestamp:
    return pd.Timestamp(naive_utc(as_of or utcnow()))


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def compute(champions: Champions, leads: pd.DataFrame, interactions: pd.DataFrame | None, *, as_of: pd.Timestamp,
            probability: pd.Series) -> list[dict[str, Any]]:
    """Prediction rows for these leads (all assumed open); ``probability`` by lead id for expected value."""
    if leads.empty:
        return []
    interactions = interactions if interactions is not None and len(interactions) else None
    frame = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()})
    for kind, model in champions.models.items():
        try:
            predicted = model.predict(leads, interactions, as_of=as_of)
        except Exception:  # one broken model must not stop the others (or the scoring that called us)
            log.exception("%s predictions failed for %d leads", kind, len(leads))
            continue
        frame = frame.merge(predicted[["lead_id", *COLUMNS[kind]]], on="lead_id", how="left")
        frame[VERSION_COLUMN[kind]] = champions.version_ids[kind]
    now = utcnow()
    rows = []
    for record in frame.to_dict("records"):
        row = {"lead_id": int(record["lead_id"]), "updated_at": now}
        for kind in KINDS:
            for column in (*COLUMNS[kind], VERSION_COLUMN[kind]):
                row[column] = _clean(record.get(column))
        if row["best_contact_hour"] is not None:
            row["best_contact_hour"] = int(row["best_contact_hour"])
        p = probability.get(row["lead_id"])
        row["expected_value"] = (float(p) * row["deal_value_p50"]
                                 if p is not None and not pd.isna(p) and row["deal_value_p50"] is not None else None)
        rows.append(row)
    return rows


def _open_ids(session: Session, dataset: str, lead_ids: Sequence[int] | None) -> tuple[list[int], list[int], dict]:
    """(open ids, ids whose row must go, current score probability by id)."""
    query = select(Lead.id, Lead.status, Lead.consent_profiling, Lead.current_score).where(Lead.dataset == dataset)
    rows = []
    if lead_ids is None:
        rows = session.execute(query).all()
    else:
        for start in range(0, len(lead_ids), 20_000):
            rows += session.execute(query.where(Lead.id.in_(lead_ids[start : start + 20_000]))).all()
    open_ids = [r.id for r in rows if r.status not in CLOSED and r.consent_profiling]
    gone = [r.id for r in rows if r.status in CLOSED or not r.consent_profiling]
    scores = {r.id: r.current_score / 100.0 for r in rows if r.current_score is not None}
    return open_ids, gone, scores


@dataclass
class Forecasts:
    """What ``forecast`` computed: rows to upsert and leads whose row must go (``store`` writes them)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)


def forecast(
    session: Session,
    *,
    dataset: str,
    lead_ids: Sequence[int] | None = None,
    as_of: datetime | None = None,
    champions: Champions | None = None,
    leads: pd.DataFrame | None = None,
    interactions: pd.DataFrame | None = None,
    probabilities: dict[int, float] | None = None,
) -> Forecasts:
    """Compute the prediction rows of a dataset's open leads (or of ``lead_ids`` among them); reads only.

    Callers that already hold the leads' frames (batch rescoring) pass them, and
    the conversion probabilities they just computed, to skip reloading.
    """
    champions = champions if champions is not None else load_champions(session, dataset=dataset)
    open_ids, gone, scores = _open_ids(session, dataset, lead_ids)
    if not champions or not open_ids:
        return Forecasts(gone=gone)
    if leads is None:
        leads = leads_frame(session, dataset=dataset, lead_ids=open_ids)
    else:
        leads = leads[leads["lead_id"].isin(open_ids)].reset_index(drop=True)
    if interactions is None:
        interactions = interactions_frame(session, dataset=dataset, lead_ids=open_ids)
    else:
        interactions = interactions[interactions["lead_id"].isin(open_ids)]
    probability = pd.Series({**scores, **(probabilities or {})}, dtype=float)
    return Forecasts(compute(champions, leads, interactions, as_of=_naive(as_of), probability=probability), gone)


def store(session: Session, forecasts: Forecasts) -> int:
    """Write what ``forecast`` computed; returns rows written."""
    gone = forecasts.gone
    for start in range(0, len(gone), 20_000):
        session.execute(delete(LeadPrediction).where(LeadPrediction.lead_id.in_(gone[start : start + 20_000])))
    upsert_rows(session, LeadPrediction.__table__, forecasts.rows, key=["lead_id"])
    session.flush()
    return len(forecasts.rows)


def refresh_predictions(session: Session, **kwargs: Any) -> int:
    """``forecast`` and ``store`` in the caller's transaction; returns rows written (arguments: ``forecast``'s)."""
    return store(session, forecast(session, **kwargs))


def refresh_lead(
    session: Session,
    lead_id: int,
    *,
    as_of: datetime | None = None,
    probability: float | None = None,
    load: Callable[[int], Any] | None = None,
) -> dict[str, Any] | None:
    """The real-time variant: one lead, from its ORM row; returns the stored row (None if not open)."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    if lead.status in CLOSED or not lead.consent_profiling:
        session.execute(delete(LeadPrediction).where(LeadPrediction.lead_id == lead_id))
        return None
    champions = load_champions(session, dataset=lead.dataset, load=load)
    if not champions:
        return None
    leads = pd.DataFrame([lead_record(lead, attribute_types(session, lead.dataset))])
    records = interaction_records(session, lead_id)
    interactions = pd.DataFrame(records) if records else None
    if interactions is not None:
        interactions["occurred_at"] = pd.to_datetime(interactions["occurred_at"])
        for column in ("listing_price", "listing_bedrooms"):
            interactions[column] = pd.to_numeric(interactions[column], errors="coerce")
    p = probability if probability is not None else (
        lead.current_score / 100.0 if lead.current_score is not None else None)
    rows = compute(champions, leads, interactions, as_of=_naive(as_of),
                   probability=pd.Series({lead_id: p}, dtype=float))
    upsert_rows(session, LeadPrediction.__table__, rows, key=["lead_id"])
    session.flush()
    return rows[0] if rows else None
