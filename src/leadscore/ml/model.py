"""``ConversionModel``: the fitted, picklable artifact that scores leads with reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .calibration import Calibrator
from .explain import GRADE_CUTOFFS, distribute_points, format_points, grade_of, reason_lists, top_reasons
from .features import FeatureBuilder
from .gam import AdditiveBoostingClassifier
from .rules import RulesModel


# What ``score`` and ``score_records`` return per lead, in this order.
_SCORED = ("probability", "score", "grade", "base_score", "top_positive", "top_negative")


@dataclass
class ScoreResult:
    """One lead's score. ``base_score + sum(contributions.values()) == score`` (exactly, in floats)."""

    probability: float
    score: float
    grade: str
    base_score: float
    contributions: dict[str, float]
    top_positive: list[dict] = field(default_factory=list)
    top_negative: list[dict] = field(default_factory=list)
    model_kind: str = "gam"

    def to_dict(self) -> dict:
        return asdict(self)


class ConversionModel:
    """Feature builder + additive model + calibrator (or the rules fallback), with metadata.

    ``kind`` is ``"gam"`` (trained model) or ``"rules"`` (cold-start fallback).
    The score is 100 × calibrated probability; grades use ``grade_cutoffs``
    (default A ≥ 60, B ≥ 35, C ≥ 15, else D; see ``explain.GRADE_CUTOFFS``).
    """

    def __init__(self, kind: str, builder: FeatureBuilder, estimator: AdditiveBoostingClassifier | None = None,
                 calibrator: Calibrator | None = None, rules: RulesModel | None = None, logistic=None,
                 threshold: float = 0.5, grade_cutoffs: Sequence[tuple[str, float]] = GRADE_CUTOFFS,
                 metadata: dict | None = None, evaluation=None):
        self.kind = kind
        self.builder = builder
        self.estimator = estimator
        self.calibrator = calibrator
        self.rules = rules
        self.logistic = logistic
        self.threshold = threshold
        self.grade_cutoffs = tuple(tuple(c) for c in grade_cutoffs)
        self.metadata = metadata or {}
        self.evaluation = evaluation

    # ------------------------------------------------------------ basics
    @property
    def feature_names(self) -> list[str]:
        return list(self.builder.feature_names_)

    @property
    def explanation_names(self) -> list[str]:
        """Names the contributions refer to: features (gam) or rules (fallback)."""
        if self.kind == "rules":
            return [r.name for r in self.rules.rules]
        return self.feature_names

    def features(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        return self.builder.transform(leads, interactions, as_of=as_of)

    def _to_score(self, raw: np.ndarray) -> np.ndarray:
        if self.kind == "rules":
            return np.clip(raw, 0.0, 100.0)
        return 100.0 * self.calibrator.transform(raw)

    def _base_raw(self) -> float:
        return float(self.rules.base) if self.kind == "rules" else float(self.estimator.expected_value_)

    def _contrib(self, X: np.ndarray, leads: pd.DataFrame | None = None, features: pd.DataFrame | None = None):
        if self.kind == "rules":
            return self.rules.points(leads, features=features)
        return self.estimator.contributions(X)

    # ---------------------------------------------------------- scoring
    def predict_proba(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> np.ndarray:
        """(n, 2) array of [P(not convert), P(convert)], sklearn style."""
        X = self.features(leads, interactions, as_of)
        raw = self._base_raw() + self._contrib(X.to_numpy(), leads, X).sum(axis=1)
        p = self._to_score(raw) / 100.0
        return np.column_stack([1 - p, p])

    def points(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        """Per-feature (or per-rule) points; each row sums to score − base_score."""
        X = self.features(leads, interactions, as_of)
        pts, _, _ = distribute_points(self._base_raw(), self._contrib(X.to_numpy(), leads, X), self._to_score)
        return pd.DataFrame(pts, columns=self.explanation_names, index=leads.index)

    def score(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None, *,
              reasons: bool = True, top_k: int = 3) -> pd.DataFrame:
        """Score many leads: probability, score (0–100), grade, base_score and top reasons.

        ``top_positive`` / ``top_negative`` hold lists of
        ``{"feature", "sentence", "points"}`` like ``score_one``.
        """
        X = self.features(leads, interactions, as_of)
        values = X.to_numpy()
        shown = (lambda: values if self.kind != "rules" else self.rules.values(leads, X)) if reasons else None
        columns = self._scored(values, self._contrib(values, leads, X), shown, top_k)
        out = pd.DataFrame(index=leads.index)
        if "lead_id" in leads:
            out["lead_id"] = leads["lead_id"].to_numpy()
        for name, column in columns.items():
            out[name] = column
        return out

    def score_records(self, leads: Sequence[Mapping], interactions: Sequence[Mapping] = (),
                      owners: Sequence[int] = (), as_of=None, *, top_k: int = 3) -> dict[str, Any]:
        """``score`` (with reasons) of leads given as dicts, ``owners[i]`` the position in
        ``leads`` of ``interactions[i]``; the same columns, as arrays and lists.

        Without pandas for a trained model: a handful of leads (a scoring request) costs about
        what one costs, where ``score`` spends more on building frames than on scoring.
        """
        if self.kind == "rules":  # the rules read frames; a cold-start fallback, not a hot path
            frame = pd.DataFrame.from_records(list(leads)) if len(leads) else pd.DataFrame(index=range(0))
            frame["lead_id"] = np.arange(len(leads))
            log = None
            if len(interactions):
                log = pd.DataFrame.from_records(list(interactions))
                log["lead_id"] = np.asarray(owners, dtype=np.int64)
            out = self.score(frame.astype(object).where(frame.notna(), None), log, as_of, top_k=top_k)
            return {name: out[name].tolist() if name.startswith("top_") else out[name].to_numpy()
                    for name in _SCORED}
        values = self.builder.transform_records(leads, interactions, owners, as_of)
        return self._scored(values, self._contrib(values), lambda: values, top_k)

    def _scored(self, values: np.ndarray, contrib: np.ndarray, shown, top_k: int) -> dict[str, Any]:
        """Points, score, grade and (``shown`` given: the values reasons describe) top reasons."""
        pts, score, base = distribute_points(self._base_raw(), contrib, self._to_score)
        out: dict[str, Any] = {"probability": score / 100.0, "score": score,
                               "grade": grade_of(score, self.grade_cutoffs), "base_score": base}
        if shown is not None:
            described = shown()
            pos, neg = top_reasons(pts, top_k)
            out["top_positive"] = self._reason_lists(pos, pts, described)
            out["top_negative"] = self._reason_lists(neg, pts, described)
        return out

    def score_one(self, lead: dict, interactions: Sequence[dict] = (), as_of=None, top_k: int = 3) -> ScoreResult:
        """Score one lead given as a dict (+ interaction dicts) without pandas: the online path."""
        if self.kind == "rules":
            record = self.rules.record_one(lead, interactions, as_of)
            contrib = self.rules.points_one(record)[None, :]
            shown = [record.get(r.field) for r in self.rules.rules]
        else:
            x = self.builder.transform_one(lead, interactions, as_of)[0]
            contrib = self.estimator.contributions_one(x)[None, :]
            shown = x
        pts, score, base = distribute_points(self._base_raw(), contrib, self._to_score)
        pts, score, base = pts[0], float(score[0]), float(base[0])
        names = self.explanation_names
        pos, neg = (sel[0][sel[0] >= 0].tolist() for sel in top_reasons(pts, top_k))  # same picks as `score`
        return ScoreResult(
            probability=score / 100.0, score=score, grade=str(grade_of(score, self.grade_cutoffs)),
            base_score=base, contributions=dict(zip(names, pts.tolist())),
            top_positive=[self._reason(j, shown[j], pts[j]) for j in pos],
            top_negative=[self._reason(j, shown[j], pts[j]) for j in neg],
            model_kind=self.kind)

    # ---------------------------------------------------------- reasons
    def _sentence(self, j: int, value) -> str:
        if self.kind == "rules":
            return self.rules.rules[j].sentence(value)
        return self.builder.describe(self.builder.feature_names_[j], value)

    def _reason(self, j: int, value, points: float) -> dict:
        return {"feature": self.explanation_names[j], "sentence": f"{self._sentence(j, value)} "
                f"({format_points(points)})", "points": float(points)}

    def _reason_lists(self, idx: np.ndarray, pts: np.ndarray, shown) -> list[list[dict]]:
        return reason_lists(idx, pts, self.explanation_names, lambda j, rows: self._sentences(j, rows, shown))

    def _sentences(self, j: int, rows: np.ndarray, shown) -> Sequence[str]:
        """``_sentence(j, value)`` for the given rows, vectorised (identical strings)."""
        if self.kind != "rules":
            return self.builder.describe_many(self.builder.feature_names_[j], shown[rows, j])
        values = [None] * len(rows) if shown[j] is None else shown[j][rows].tolist()
        cache: dict[tuple, str] = {}  # many leads share a value: describe each once
        out = []
        for value in values:
            key = (value.__class__, value if value == value else None)
            text = cache.get(key)
            if text is None:
                text = cache[key] = self._sentence(j, value)
            out.append(text)
        return out

    def __repr__(self) -> str:
        return f"ConversionModel(kind={self.kind!r}, n_features={len(self.feature_names)})"
