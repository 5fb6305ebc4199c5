"""Training use case: load a dataset's closed leads, train, compare with the champion.

No commits here: ``registry.tasks.run_training_job`` owns the transactions
(and keeps training itself outside any open transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from leadscore.core.errors import LeadscoreError
from leadscore.interactions.frames import interactions_frame
from leadscore.leads.frames import leads_frame, outcomes_frame
from leadscore.ml import TrainingConfig, evaluate, train_conversion_model
from leadscore.ml.drift import DriftMonitor
from leadscore.ml.training import _as_of, _holdout_split
from leadscore.registry import service
from leadscore.registry.artifacts import Artifact
from leadscore.registry.models import ModelVersion

KEY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "accuracy", "precision", "recall",
               "lift_top_decile", "capture_top_decile", "n", "positives")


class NoTrainingData(LeadscoreError):
    pass


def snapshot_times(leads, interactions, closed_at, config):  # noqa: ANN001, ANN201
    """When each lead's training features are taken (the ML core's own rule)."""
    closed = None if closed_at is None else pd.Series(closed_at).reset_index(drop=True)
    return _as_of(leads.reset_index(drop=True), interactions, closed, None, config)


def holdout_split(leads, y, config):  # noqa: ANN001, ANN201
    """The ML core's held-out split (newest leads when creation times are known)."""
    return _holdout_split(leads.reset_index(drop=True), np.asarray(y, dtype=int), config)


@dataclass
class TrainingData:
    dataset: str
    leads: pd.DataFrame
    y: np.ndarray
    closed_at: pd.Series
    interactions: pd.DataFrame | None
    recorded_at: pd.Series

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        created = self.leads["created_at"] if "created_at" in self.leads else pd.Series(dtype="datetime64[ns]")
        if created.empty or created.isna().all():
            return None, None
        return created.min().to_pydatetime(), created.max().to_pydatetime()


@dataclass
class Candidate:
    artifact: Artifact
    data: TrainingData
    config: TrainingConfig
    comparison: dict[str, Any] = field(default_factory=dict)


def load_training_data(session: Session, *, dataset: str) -> TrainingData:
    """Closed (won/lost) leads of a dataset with labels, closing times and interactions."""
    outcomes = outcomes_frame(session, dataset=dataset)
    if outcomes.empty:
        raise NoTrainingData(
            f"dataset {dataset!r} has no leads with an outcome (won/lost) to learn from; import outcomes first"
        )
    leads = leads_frame(session, dataset=dataset, lead_ids=outcomes["lead_id"].tolist())
    frame = leads.merge(outcomes[["lead_id", "won", "closed_at", "recorded_at"]], on="lead_id", how="inner")
    interactions = interactions_frame(session, dataset=dataset, lead_ids=frame["lead_id"].tolist())
    return TrainingData(
        dataset=dataset,
        leads=frame.drop(columns=["won", "closed_at", "recorded_at"]),
        y=frame["won"].to_numpy(dtype=int),
        closed_at=frame["closed_at"],
        interactions=interactions if len(interactions) else None,
        recorded_at=frame["recorded_at"],
    )


def train(data: TrainingData, config: TrainingConfig, progress: Callable[[str, float], None] | None = None) -> Candidate:
    model = train_conversion_model(
        data.leads, data.y, data.interactions, closed_at=data.closed_at, config=config, progress=progress
    )
    at = snapshot_times(data.leads, data.interactions, data.closed_at, config)
    features = model.features(data.leads, data.interactions, as_of=at)
    scores = model.score(data.leads, data.interactions, as_of=at, reasons=False)["score"].to_numpy()
    drift = DriftMonitor().fit(features, scores)
    return Candidate(Artifact(model=model, drift=drift), data, config)


def holdout_metrics(candidate: Candidate) -> dict[str, Any] | None:
    evaluation = candidate.artifact.model.evaluation
    return None if evaluation is None else dict(evaluation.model)


MIN_FRESH_ROWS = 200
MIN_FRESH_CLASS = 20


def compare_with_champion(candidate: Candidate, champion: Artifact, champion_trained_at: datetime) -> dict[str, Any]:
    """How the champion does on held-out leads, measured fairly.

    The candidate's held-out leads may include leads the champion was trained
    on, where it would look better than it is. So:

    * the champion's own held-out metrics (recorded when it was trained) are
      the reference, out-of-sample like the candidate's;
    * when enough outcomes were recorded *after* the champion was trained, the
      champion is also scored on those fresh held-out leads, and the weaker of
      the two references is used — the champion has never seen them, and a
      model that has gone stale should be replaced.
    """
    reference = dict(champion.model.evaluation.model) if champion.model.evaluation is not None else None
    comparison: dict[str, Any] = {"champion_holdout": reference}
    data, config = candidate.data, candidate.config
    old, new, split = holdout_split(data.leads, data.y, config)
    recorded = pd.to_datetime(data.recorded_at.iloc[new], utc=True)
    fresh = new[(recorded > pd.Timestamp(champion_trained_at)).to_numpy()]
    y_fresh = data.y[fresh]
    if len(fresh) >= MIN_FRESH_ROWS and min(int(y_fresh.sum()), int(len(y_fresh) - y_fresh.sum())) >= MIN_FRESH_CLASS:
        at = snapshot_times(data.leads, data.interactions, data.closed_at, config)
        leads = data.leads.iloc[fresh].reset_index(drop=True)
        interactions = data.interactions
        if interactions is not None:
            interactions = interactions[interactions["lead_id"].isin(leads["lead_id"])]
        report = evaluate(champion.model, leads, y_fresh, interactions, as_of=at[fresh],
                          split=f"{split}, outcomes recorded after the champion was trained")
        comparison["champion_fresh"] = report.model
    candidates = [m for m in (comparison.get("champion_holdout"), comparison.get("champion_fresh")) if m]
    comparison["champion"] = min(candidates, key=lambda m: m.get("roc_auc") or 0.0) if candidates else None
    return comparison


def version_metrics(candidate: Candidate) -> dict[str, Any]:
    model = candidate.artifact.model
    metrics: dict[str, Any] = {}
    holdout = holdout_metrics(candidate)
    if holdout:
        metrics.update({k: holdout.get(k) for k in KEY_METRICS})
    if model.evaluation is not None:
        metrics["report"] = model.evaluation.to_dict()
    if candidate.comparison:
        metrics["champion_comparison"] = candidate.comparison
    metrics["model_kind"] = model.kind
    return metrics


def register_candidate(session: Session, candidate: Candidate) -> ModelVersion:
    model, data = candidate.artifact.model, candidate.data
    meta = model.metadata
    start, end = data.window
    counts = meta.get("row_counts", {})
    return service.register(
        session,
        model=candidate.artifact,
        kind="conversion",
        dataset=data.dataset,
        algorithm="lightgbm-gam" if model.kind == "gam" else "rules",
        metrics=version_metrics(candidate),
        features=list(model.feature_names),
        params={"config": meta.get("config", {}), "lightgbm": meta.get("params", {}),
                "calibration": meta.get("calibration"), "threshold": meta.get("threshold"),
                "excluded_columns": meta.get("excluded_columns", {}), "leakage": meta.get("leakage", {})},
        library_versions=meta.get("library_versions", {}),
        data_fingerprint=meta.get("data_fingerprint"),
        data_start=start,
        data_end=end,
        n_train=int(len(data.y)),
        n_valid=int(holdout_metrics(candidate).get("n", 0)) if holdout_metrics(candidate) else 0,
        n_positive=int(counts.get("converted", int(data.y.sum()))),
        notes=meta.get("fallback_reason"),
    )
