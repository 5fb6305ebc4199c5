"""Leakage guard: find columns that give the outcome away, and exclude them by default.

A column leaks when it is filled or updated *because of* the outcome (a
"deal stage", a salesperson's tag, a closed-deal-only field). Scoring new
leads with it is impossible or misleading, yet it makes offline metrics look
great. Three data checks, no name guessing:

* ``single_feature_auc``: the column alone predicts the label with
  out-of-fold AUC ≥ ``auc_threshold`` (0.95). Values are target-encoded
  out of fold (numbers by quantile bins, missing as its own value), so an id
  column cannot fake a perfect score.
* ``value_maps_to_label``: one value (or "missing", or "present") of the column
  is almost pure (≥ ``purity``, 95 %, of its rows share one label) *and*
  covers at least ``min_coverage`` (30 %) of that label's rows: the value and
  the label nearly map one-to-one, e.g. a field filled only for won deals, or
  a sales tag set once the deal is done. Both conditions together matter: a
  pure but rare value (a referral source that almost always converts) is a
  legitimate signal; a near-pure value that stands for a third of all
  conversions is almost always written after the fact.
* ``after_outcome``: a timestamp column lies at or after ``closed_at`` for at
  least ``after_outcome_share`` of the rows where both are known.

Flagged columns are excluded unless named in ``override`` (the user's call,
recorded in the report). Protected columns (fairness.py) are handled by the
feature builder and cannot be overridden here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from .features.schema import DEFAULT_NA_VALUES, NAT, column_ns, map_unique, object_values, to_category

SKIP = ("lead_id",)


@dataclass
class LeakageFinding:
    column: str
    check: str
    detail: str
    value: float
    excluded: bool

    def to_dict(self) -> dict:
        return asdict(self)


class LeakageGuard(BaseEstimator):
    """Detect outcome-leaking columns; ``excluded_`` lists those to drop."""

    def __init__(self, auc_threshold: float = 0.95, purity: float = 0.95, min_coverage: float = 0.3,
                 min_count: int = 20, after_outcome_share: float = 0.9, override=(), na_values=DEFAULT_NA_VALUES,
                 folds: int = 5, random_state: int = 0):
        self.auc_threshold = auc_threshold
        self.purity = purity
        self.min_coverage = min_coverage
        self.min_count = min_count
        self.after_outcome_share = after_outcome_share
        self.override = override
        self.na_values = na_values
        self.folds = folds
        self.random_state = random_state

    def fit(self, leads: pd.DataFrame, y, closed_at=None):
        y = np.asarray(y, dtype=int)
        na = frozenset(str(v).strip().lower() for v in self.na_values)
        keep = set(self.override)
        findings: list[LeakageFinding] = []
        self.single_feature_auc_: dict[str, float] = {}
        if len(np.unique(y)) == 2:
            for col in leads.columns:
                if col in SKIP:
                    continue
                keys = _keys(leads[col], na)
                auc = self._oof_auc(keys, y)
                self.single_feature_auc_[col] = auc
                if auc >= self.auc_threshold:
                    findings.append(LeakageFinding(col, "single_feature_auc",
                                                   f"alone predicts the outcome with AUC {auc:.3f}", auc, col not in keep))
                    continue
                hit = self._pure_value(keys, y)
                if hit is not None:
                    value, label, purity, coverage = hit
                    findings.append(LeakageFinding(
                        col, "value_maps_to_label",
                        f"value {value!r} means outcome {label} in {purity:.1%} of its rows and covers "
                        f"{coverage:.0%} of all outcome-{label} leads", purity, col not in keep))
        if closed_at is not None:
            closed = column_ns(pd.Series(closed_at).reset_index(drop=True), na)
            for col in leads.columns:
                s = leads[col]
                if col in SKIP or any(f.column == col for f in findings):
                    continue
                if not (pd.api.types.is_datetime64_any_dtype(s.dtype) or s.dtype == object):
                    continue
                ns = column_ns(s.reset_index(drop=True), na)
                both = (ns != NAT) & (closed != NAT)
                if both.sum() < self.min_count:
                    continue
                share = float(np.mean(ns[both] >= closed[both]))
                if share >= self.after_outcome_share:
                    findings.append(LeakageFinding(col, "after_outcome",
                                                   f"{share:.0%} of its timestamps are at or after closed_at",
                                                   share, col not in keep))
        self.findings_ = findings
        self.excluded_ = [f.column for f in findings if f.excluded]
        self.overridden_ = [f.column for f in findings if not f.excluded]
        return self

    def report(self) -> list[dict]:
        return [f.to_dict() for f in self.findings_]

    # ------------------------------------------------------------- checks
    def _oof_auc(self, keys: np.ndarray, y: np.ndarray) -> float:
        folds = min(self.folds, int(np.bincount(y).min()))
        if folds < 2:
            return 0.5
        codes, uniques = pd.factorize(keys)
        k = len(uniques)
        enc = np.empty(len(y))
        prior = y.mean()
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=self.random_state).split(codes, y):
            pos = np.bincount(codes[tr], weights=y[tr], minlength=k)
            cnt = np.bincount(codes[tr], minlength=k)
            rate = (pos + prior) / (cnt + 1.0)  # light smoothing: unseen values get the prior
            enc[te] = rate[codes[te]]
        auc = roc_auc_score(y, enc)
        return float(max(auc, 1 - auc))

    def _pure_value(self, keys: np.ndarray, y: np.ndarray):
        frame = pd.DataFrame({"k": keys, "y": y})
        present = keys != "<missing>"
        if present.any() and (~present).any():  # "present" as one value: filled-only-for-one-outcome fields
            frame = pd.concat([frame, pd.DataFrame({"k": "<present>", "y": y[present]})])
        stats = frame.groupby("k", sort=False)["y"].agg(["sum", "count"])
        totals = {1: max(int(y.sum()), 1), 0: max(int(len(y) - y.sum()), 1)}
        best = None
        for value, (pos, count) in stats.iterrows():
            if count < self.min_count:
                continue
            for label, hits in ((1, pos), (0, count - pos)):
                purity, coverage = hits / count, hits / totals[label]
                if purity >= self.purity and coverage >= self.min_coverage and count < len(y):
                    if best is None or coverage > best[3]:
                        best = (value, label, float(purity), float(coverage))
        return best


def _keys(series: pd.Series, na: frozenset[str]) -> np.ndarray:
    """Column values as hashable keys: numbers in quantile bins, missing as '<missing>'."""
    s = series.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.Series(column_ns(s, na)).where(lambda v: v != NAT).astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(vals)
        if len(np.unique(vals[finite])) > 50:
            edges = np.unique(np.quantile(vals[finite], np.linspace(0, 1, 51)))
            binned = np.searchsorted(edges, vals, side="right").astype(object)
            return np.where(finite, binned, "<missing>")
        return np.where(finite, vals.astype(object), "<missing>")
    cats = map_unique(object_values(s), lambda v: to_category(v, na), dtype=object)
    return np.where(pd.isna(cats), "<missing>", cats).astype(object)
