"""Monitoring: realised accuracy as outcomes arrive, and drift against the training data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.core import outbox
from leadscore.core.database import utcnow
from leadscore.interactions.frames import interactions_frame
from leadscore.leads.frames import leads_frame
from leadscore.leads.models import Lead, Outcome
from leadscore.ml import realised_performance
from leadscore.registry import service
from leadscore.registry.models import DriftEvent, ModelVersion
from leadscore.scoring.models import Score

MIN_DRIFT_ROWS = 50


def realised(session: Session, *, dataset: str, freq: str = "W") -> pd.DataFrame:
    """Per model version and period of closing: AUC, log loss, calibration of the score
    each version last gave a lead before it closed."""
    rows = session.execute(
        select(Score.lead_id, Score.model_version_id, Score.scored_at, Score.probability,
               Outcome.result, Outcome.closed_at, ModelVersion.version)
        .join(Outcome, Outcome.lead_id == Score.lead_id)
        .join(Lead, Lead.id == Score.lead_id)
        .join(ModelVersion, ModelVersion.id == Score.model_version_id)
        .where(Lead.dataset == dataset, Outcome.closed_at.is_not(None), Score.scored_at < Outcome.closed_at)
    ).all()
    columns = ["lead_id", "model_version_id", "scored_at", "probability", "result", "closed_at", "version"]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return pd.DataFrame(columns=["model_version_id", "version", "period", "n", "converted", "roc_auc",
                                     "log_loss", "brier", "ece", "mean_predicted", "observed_rate"])
    frame = frame.sort_values("scored_at").groupby(["lead_id", "model_version_id"], as_index=False).last()
    frame["closed_at"] = pd.to_datetime(frame["closed_at"], utc=True).dt.tz_localize(None)
    parts = []
    for (version_id, version), group in frame.groupby(["model_version_id", "version"]):
        table = realised_performance(group["probability"], (group["result"] == "won").astype(int),
                                     group["closed_at"], freq=freq)
        table.insert(0, "version", version)
        table.insert(0, "model_version_id", version_id)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


@dataclass
class DriftOutcome:
    status: str
    report: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    message: str = ""


def check_drift(session: Session, *, dataset: str, window_days: int = 30) -> DriftOutcome:
    """Compare recent leads with the champion's training data; record events past the thresholds."""
    champion = service.get_champion(session, dataset=dataset)
    if champion is None:
        return DriftOutcome("skipped", message=f"dataset {dataset!r} has no champion")
    artifact = service.load_model(session, champion)
    if getattr(artifact, "drift", None) is None:
        return DriftOutcome("skipped", message="the champion has no drift reference")
    end = utcnow()
    start = end - timedelta(days=window_days)
    recent_ids = list(session.scalars(
        select(Lead.id).where(Lead.dataset == dataset, Lead.created_at >= start).order_by(Lead.id)
    ))
    if len(recent_ids) < MIN_DRIFT_ROWS:
        return DriftOutcome("skipped", message=f"only {len(recent_ids)} leads in the last {window_days} days")
    leads = leads_frame(session, dataset=dataset, lead_ids=recent_ids)
    interactions = interactions_frame(session, dataset=dataset, lead_ids=recent_ids)
    model = artifact.model
    snapshot_days = model.metadata.get("config", {}).get("snapshot_days") or 7.0
    now = pd.Timestamp(end).tz_convert("UTC").tz_localize(None)
    as_of = np.minimum(
        (leads["created_at"] + pd.Timedelta(days=snapshot_days)).to_numpy(dtype="datetime64[ns]"),
        np.datetime64(now.to_datetime64()),
    )
    ix = interactions if len(interactions) else None
    features = model.features(leads, ix, as_of=as_of)
    scores = model.score(leads, ix, as_of=as_of, reasons=False)["score"].to_numpy()
    report = artifact.drift.check(features, scores)
    events = 0
    for item in report.features:
        if item["status"] != "ok":
            session.add(DriftEvent(model_version_id=champion.id, subject=item["feature"], psi=float(item["psi"]),
                                   severity=item["status"], window_start=start, window_end=end))
            events += 1
    if report.score and report.score["status"] != "ok":
        session.add(DriftEvent(model_version_id=champion.id, subject="score", psi=float(report.score["psi"]),
                               severity=report.score["status"], window_start=start, window_end=end))
        events += 1
    if report.status == "drift":
        outbox.enqueue(session, "drift.detected", {
            "dataset": dataset, "model_version_id": champion.id, "features": report.drifted,
            "score_psi": report.score["psi"] if report.score else None,
        })
    session.flush()
    return DriftOutcome(report.status, report.to_dict(), events)
