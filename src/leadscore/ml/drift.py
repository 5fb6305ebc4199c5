"""Drift monitoring: population stability index per feature and for the score,
plus realised performance per period once outcomes are known.

PSI = Σ (cur% − ref%) · ln(cur% / ref%) over bins. Numeric columns use
quantile bins learned on the reference (plus one bin for missing); categorical
columns use their categories (plus missing, plus one bin for categories the
reference never saw). Shares are floored at 1e-4 so empty bins stay finite.
Conventional reading: < 0.1 stable, 0.1–0.25 warn, ≥ 0.25 drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .metrics import binary_metrics, expected_calibration_error

FLOOR = 1e-4
SCORE = "__score__"


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def _bins(values: pd.Series, n_bins: int, categorical: bool) -> dict:
    if categorical:
        cats = values.astype(object).where(values.notna(), None).dropna().astype(str)
        return {"kind": "categorical", "categories": sorted(cats.unique().tolist())}
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    edges = np.unique(np.quantile(v, np.linspace(0, 1, n_bins + 1)[1:-1])) if len(v) else np.empty(0)
    return {"kind": "numeric", "edges": edges}


def _shares(values: pd.Series, spec: dict) -> np.ndarray:
    n = max(len(values), 1)
    if spec["kind"] == "categorical":
        index = {c: i for i, c in enumerate(spec["categories"])}
        k = len(index)
        cats = values.astype(object).where(values.notna(), None)
        codes = np.array([k if c is None else index.get(str(c), k + 1) for c in cats], dtype=np.int64)
        counts = np.bincount(codes, minlength=k + 2)
    else:
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(v)
        k = len(spec["edges"]) + 1
        codes = np.where(finite, np.searchsorted(spec["edges"], np.where(finite, v, 0), side="right"), k)
        counts = np.bincount(codes, minlength=k + 1)
    return np.maximum(counts / n, FLOOR)


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def population_stability_index(reference, current, bins: int = 10, categorical: bool | None = None) -> float:
    """PSI of one variable: ``current`` versus ``reference`` (array-likes or Series)."""
    ref, cur = pd.Series(reference), pd.Series(current)
    cat = _is_categorical(ref) if categorical is None else categorical
    spec = _bins(ref, bins, cat)
    return _psi(_shares(ref, spec), _shares(cur, spec))


def _status(psi: float, warn: float, drift: float) -> str:
    return "drift" if psi >= drift else "warn" if psi >= warn else "ok"


@dataclass
class DriftReport:
    """PSI per feature and for the score, each with a status ('ok' / 'warn' / 'drift')."""

    features: list[dict] = field(default_factory=list)  # {feature, psi, status}, largest PSI first
    score: dict | None = None
    warn_threshold: float = 0.1
    drift_threshold: float = 0.25
    n_reference: int = 0
    n_current: int = 0

    @property
    def status(self) -> str:
        statuses = [f["status"] for f in self.features] + ([self.score["status"]] if self.score else [])
        return "drift" if "drift" in statuses else "warn" if "warn" in statuses else "ok"

    @property
    def drifted(self) -> list[str]:
        return [f["feature"] for f in self.features if f["status"] == "drift"]

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


class DriftMonitor(BaseEstimator):
    """Learns reference bins once (e.g. at training time), then checks new batches."""

    def __init__(self, bins: int = 10, warn: float = 0.1, drift: float = 0.25, categorical=()):
        self.bins = bins
        self.warn = warn
        self.drift = drift
        self.categorical = categorical

    def fit(self, reference: pd.DataFrame, reference_scores=None):
        self.specs_, self.reference_shares_ = {}, {}
        columns = {c: reference[c] for c in reference.columns}
        if reference_scores is not None:
            columns[SCORE] = pd.Series(np.asarray(reference_scores, dtype=float))
        for name, s in columns.items():
            cat = name in set(self.categorical) or (name != SCORE and _is_categorical(s))
            self.specs_[name] = _bins(s, self.bins, cat)
            self.reference_shares_[name] = _shares(s, self.specs_[name])
        self.n_reference_ = len(reference)
        return self

    def check(self, current: pd.DataFrame, current_scores=None) -> DriftReport:
        check_is_fitted(self, "specs_")
        report = DriftReport(warn_threshold=self.warn, drift_threshold=self.drift, n_reference=self.n_reference_,
                             n_current=len(current))
        for name, spec in self.specs_.items():
            if name == SCORE:
                continue
            if name not in current:
                continue
            psi = _psi(self.reference_shares_[name], _shares(current[name], spec))
            report.features.append({"feature": name, "psi": psi, "status": _status(psi, self.warn, self.drift)})
        report.features.sort(key=lambda f: -f["psi"])
        if current_scores is not None and SCORE in self.specs_:
            cur = pd.Series(np.asarray(current_scores, dtype=float))
            psi = _psi(self.reference_shares_[SCORE], _shares(cur, self.specs_[SCORE]))
            report.score = {"psi": psi, "status": _status(psi, self.warn, self.drift)}
        return report


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, reference_scores=None, current_scores=None, *,
                 bins: int = 10, warn: float = 0.1, drift: float = 0.25, categorical=()) -> DriftReport:
    """One-shot PSI report of ``current`` against ``reference`` (features and, if given, scores)."""
    monitor = DriftMonitor(bins, warn, drift, categorical).fit(reference, reference_scores)
    return monitor.check(current, current_scores)


def realised_performance(probabilities, outcomes, dates, freq: str = "MS") -> pd.DataFrame:
    """Per period (``freq``, pandas offset alias, default month start): n, converted, AUC,
    log loss, Brier, ECE, mean predicted vs observed rate (calibration gap)."""
    frame = pd.DataFrame({"p": np.asarray(probabilities, dtype=float), "y": np.asarray(outcomes, dtype=int),
                          "date": pd.to_datetime(pd.Series(dates).reset_index(drop=True))})
    rows = []
    for period, g in frame.groupby(frame["date"].dt.to_period(freq.rstrip("S") or "M")):
        m = binary_metrics(g["y"], g["p"])
        rows.append({"period": str(period), "n": m["n"], "converted": m["positives"], "roc_auc": m["roc_auc"],
                     "log_loss": m["log_loss"], "brier": m["brier"],
                     "ece": expected_calibration_error(g["y"], g["p"]),
                     "mean_predicted": float(g["p"].mean()), "observed_rate": float(g["y"].mean()),
                     "calibration_gap": float(g["y"].mean() - g["p"].mean())})
    return pd.DataFrame(rows)
