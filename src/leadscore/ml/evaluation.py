"""Evaluation report: the model beside the rules and logistic-regression baselines.

Metrics (see ``metrics.binary_metrics``): ROC AUC, PR AUC, log loss, Brier,
expected calibration error (10 equal-width bins), lift and capture in the top
decile, and accuracy / precision / recall / F1 at the model's threshold. The
threshold is chosen on held-out (out-of-fold) predictions of the training
data to maximise accuracy by default (``TrainingConfig.threshold_metric``,
'accuracy' or 'f1'), as the median of the best cut-offs of bootstrap resamples
(``metrics.choose_threshold``: steadier than one sample's arg max); each
baseline gets its own threshold chosen the same way on its own training
predictions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .metrics import binary_metrics

TABLE_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile", "capture_top_decile",
                 "accuracy", "precision", "recall", "f1", "threshold")


@dataclass
class EvaluationReport:
    """Metrics of the model and its baselines on one evaluation set. ``to_dict()`` is JSON-ready."""

    model: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    cross_validation: dict[str, float] | None = None
    feature_importance: list[dict] = field(default_factory=list)
    split: str = ""
    model_kind: str = "gam"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return _clean(asdict(self))

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def table(self) -> str:
        return format_report(self)


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if np.isnan(v) else v
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def format_report(report: EvaluationReport) -> str:
    """Readable fixed-width table (model, baselines, cross-validation) + top features."""
    cols = {"model": report.model, **report.baselines}
    if report.cross_validation:
        cols["model (CV)"] = report.cross_validation
    width = max(12, *(len(c) + 2 for c in cols))
    lines = [f"Evaluation ({report.split}; n={report.model.get('n')}, converted={report.model.get('positives')})",
             f"{'metric':<20}" + "".join(f"{c:>{width}}" for c in cols)]
    for m in TABLE_METRICS:
        cells = []
        for metrics in cols.values():
            v = metrics.get(m)
            cells.append(f"{'-' if v is None or (isinstance(v, float) and np.isnan(v)) else f'{v:.4f}':>{width}}")
        lines.append(f"{m:<20}" + "".join(cells))
    if report.feature_importance:
        lines.append("")
        lines.append("Top features (mean |points| per lead):")
        for row in report.feature_importance[:10]:
            lines.append(f"  {row['feature']:<40} {row['mean_abs_points']:8.2f}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def evaluate(model, leads: pd.DataFrame, y, interactions: pd.DataFrame | None = None, as_of=None,
             split: str = "given data") -> EvaluationReport:
    """Evaluate a ``ConversionModel`` and its stored baselines on labelled leads."""
    y = np.asarray(y, dtype=int)
    X = model.features(leads, interactions, as_of)
    values = X.to_numpy()
    proba = model.predict_proba(leads, interactions, as_of)[:, 1]
    report = EvaluationReport(model=binary_metrics(y, proba, model.threshold), split=split, model_kind=model.kind)
    baselines = model.metadata.get("baseline_thresholds", {})
    if model.kind != "rules" and model.rules is not None:
        p_rules = model.rules.predict_proba(leads, features=X)[:, 1]
        report.baselines["rules"] = binary_metrics(y, p_rules, baselines.get("rules", 0.5))
    if model.logistic is not None:
        p_lr = model.logistic.predict_proba(values)[:, 1]
        report.baselines["logistic_regression"] = binary_metrics(y, p_lr, baselines.get("logistic_regression", 0.5))
    report.feature_importance = feature_importance(model, leads, X)
    return report


def feature_importance(model, leads: pd.DataFrame, X: pd.DataFrame) -> list[dict]:
    """Global importance: mean absolute points per lead (and LightGBM gain), largest first."""
    from .explain import distribute_points

    contrib = model._contrib(X.to_numpy(), leads, X)
    pts, _, _ = distribute_points(model._base_raw(), contrib, model._to_score)
    mean_abs = np.abs(pts).mean(axis=0) if len(pts) else np.zeros(pts.shape[1])
    gain = (model.estimator.feature_importance() if model.estimator is not None
            else np.full(len(mean_abs), np.nan))
    rows = [{"feature": name, "mean_abs_points": float(a), "gain": float(g)}
            for name, a, g in zip(model.explanation_names, mean_abs, gain)]
    return sorted(rows, key=lambda r: -r["mean_abs_points"])
