"""Rule-based points model: cold-start fallback and the baseline of every report.

Rules live in a TOML file (``default_rules.toml`` ships with the package, see
it for the format). A rule tests one value of a lead, either a raw lead field
or an engineered feature, and adds its points when it fires::

    score = clip(base + Σ points of firing rules, 0, 100)
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .calibration import Calibrator
from .features import FeatureBuilder
from .features.schema import DEFAULT_NA_VALUES, map_unique, object_values, to_bool, to_category, to_number

OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in", "missing", "present")
_NA = frozenset(DEFAULT_NA_VALUES)


@dataclass(frozen=True)
class Rule:
    name: str
    field: str
    op: str
    points: float
    value: object = None
    reason: str = ""

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"rule {self.name!r}: unknown op {self.op!r} (use one of {', '.join(OPS)})")
        if self.op in ("in", "not in") and not isinstance(self.value, (list, tuple)):
            raise ValueError(f"rule {self.name!r}: op {self.op!r} needs a list value")

    def fires(self, v: object) -> bool:
        """Whether the rule fires for one raw or engineered value (missing never fires, except 'missing')."""
        missing = _missing(v)
        if self.op == "missing":
            return missing
        if self.op == "present":
            return not missing
        if missing:
            return False
        target = self.value
        if self.op in ("in", "not in"):
            inside = _norm(v) in {_norm(t) for t in target}
            return inside if self.op == "in" else not inside
        if isinstance(target, bool):
            b = to_bool(v, _NA)
            return (not math.isnan(b)) and ((b == float(target)) == (self.op == "=="))
        if isinstance(target, (int, float)):
            x = to_number(v, _NA)
            if math.isnan(x):
                return False
            return {"==": x == target, "!=": x != target, ">": x > target, ">=": x >= target,
                    "<": x < target, "<=": x <= target}[self.op]
        same = _norm(v) == _norm(target)
        return same if self.op == "==" else (not same if self.op == "!=" else False)

    def sentence(self, v: object) -> str:
        try:
            return (self.reason or self.name).format(value=v)
        except (ValueError, TypeError, IndexError, KeyError):
            # A value the format spec cannot take (e.g. the text "3" for "{value:.0f}"): show it as is.
            return re.sub(r"\{value[^}]*\}", str(v), self.reason or self.name)


def _missing(v: object) -> bool:
    if isinstance(v, float):
        return math.isnan(v)
    return to_category(v, _NA) is None


def _norm(v: object) -> str:
    cat = to_category(v, _NA)
    return "" if cat is None else cat.lower()


class RulesModel(BaseEstimator):
    """Points model from a rules list (see ``default_rules.toml``).

    ``fit`` only learns the feature builder that computes engineered fields
    (and, when labels are given, a Platt calibration of the total so the
    baseline's probabilities are comparable in reports); no rule is learned.
    """

    def __init__(self, rules: tuple[Rule, ...] = (), base: float = 25.0, na_values=DEFAULT_NA_VALUES):
        self.rules = rules
        self.base = base
        self.na_values = na_values

    @classmethod
    def from_toml(cls, text: str, **kwargs) -> RulesModel:
        data = tomllib.loads(text)
        rules = tuple(Rule(name=r["name"], field=r["field"], op=r.get("op", "=="), points=float(r["points"]),
                           value=r.get("value"), reason=r.get("reason", "")) for r in data.get("rules", []))
        return cls(rules=rules, base=float(data.get("base", 0.0)), **kwargs)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> RulesModel:
        return cls.from_toml(Path(path).read_text(encoding="utf-8"), **kwargs)

    @classmethod
    def default(cls, **kwargs) -> RulesModel:
        text = resources.files("leadscore.ml").joinpath("default_rules.toml").read_text(encoding="utf-8")
        return cls.from_toml(text, **kwargs)

    # --------------------------------------------------------------- fitting
    def fit(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, y=None, as_of=None,
            builder: FeatureBuilder | None = None):
        self.builder_ = builder if builder is not None else FeatureBuilder(na_values=self.na_values).fit(
            leads, interactions, as_of=as_of)
        self.calibrator_ = None
        if y is not None and len(np.unique(np.asarray(y))) == 2:
            total = self.total(self.points(leads, interactions, as_of=as_of))
            self.calibrator_ = Calibrator("sigmoid").fit(total, np.asarray(y, dtype=int))
        return self

    # --------------------------------------------------------------- scoring
    def points(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None,
               features: pd.DataFrame | None = None) -> np.ndarray:
        """(n, n_rules) points of each rule for each lead."""
        check_is_fitted(self, "builder_")
        if features is None:
            features = self.builder_.transform(leads, interactions, as_of=as_of)
        out = np.zeros((len(leads), len(self.rules)))
        for k, rule in enumerate(self.rules):
            column = _field(rule.field, leads, features)
            if column is not None:
                out[:, k] = map_unique(object_values(column), rule.fires, dtype=bool) * rule.points
            elif rule.op == "missing":
                out[:, k] = rule.points
        return out

    def values(self, leads: pd.DataFrame, features: pd.DataFrame) -> list[np.ndarray | None]:
        """The value each rule looked at, per lead (for sentences)."""
        return [None if (c := _field(r.field, leads, features)) is None else object_values(c) for r in self.rules]

    def points_one(self, record: dict) -> np.ndarray:
        """Points per rule for one lead given as a merged dict of raw fields and features."""
        return np.array([r.points if r.fires(record.get(r.field)) else 0.0 for r in self.rules])

    def record_one(self, lead: dict, interactions=(), as_of=None) -> dict:
        x = self.builder_.transform_one(lead, interactions, as_of)[0]
        return {**dict(zip(self.builder_.feature_names_, x.tolist())), **lead}

    def total(self, points: np.ndarray) -> np.ndarray:
        return np.clip(self.base + np.atleast_2d(points).sum(axis=1), 0.0, 100.0)

    def predict_proba(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None,
                      features: pd.DataFrame | None = None) -> np.ndarray:
        total = self.total(self.points(leads, interactions, as_of, features))
        p = self.calibrator_.transform(total) if self.calibrator_ is not None else total / 100.0
        return np.column_stack([1 - p, p])


def _field(name: str, leads: pd.DataFrame, features: pd.DataFrame):
    """Raw lead column first (rules compare raw values such as 'referral'), else the feature."""
    if name in leads.columns:
        return leads[name]
    if name in features.columns:
        return features[name]
    return None
