"""Features from the lead's own columns (typed contract fields and import extras).

``profile_column`` decides once, in fit, what a column is; ``encode_column``
turns raw values into feature columns. ``encode_column`` is the single
definition used by both the batch path (a DataFrame column) and the online
path (a one-element object array built from the lead dict).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .schema import (
    BOOLEAN_SENTENCES,
    CREATED_AT,
    DAY_NS,
    FIELD_COUNTS,
    FIELD_SENTENCES,
    HOUR_NS,
    LEAD_FIELDS,
    NAT,
    ColumnPlan,
    FeatureSpec,
    column_ns,
    column_numbers,
    days_ago,
    label_for,
    map_unique,
    object_values,
    safe_name,
    to_bool,
    to_category,
)

# Business keywords for free text. Deliberately no words about people
# (family, origin, faith...): see fairness.py.
TEXT_KEYWORDS: dict[str, tuple[str, str]] = {
    "cash": (r"\bcash\b", "mentions paying cash"),
    "preapproved": (r"pre-?approv", "mentions pre-approval"),
    "urgent": (r"\b(asap|urgent|urgently|immediately|right away)\b", "sounds urgent"),
    "viewing": (r"\b(view|viewing|showing|tour|visit)\b", "asks for a viewing"),
    "sell": (r"\b(sell|selling|list my)\b", "mentions selling"),
    "just_looking": (r"\b(just looking|browsing|not sure|someday)\b", "says just looking"),
}
_KEYWORD_RE = {k: re.compile(p, re.IGNORECASE) for k, (p, _) in TEXT_KEYWORDS.items()}
_DATE_LIKE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})")


def profile_column(
    column: str,
    series: pd.Series,
    na: frozenset[str],
    *,
    max_categories: int,
    min_category_count: int,
) -> tuple[ColumnPlan | None, str]:
    """Decide the role of a raw column. Returns (plan or None, reason if dropped)."""
    label = label_for(column)
    if column == CREATED_AT:
        return ColumnPlan(column, "datetime", "Lead creation"), ""
    if column in LEAD_FIELDS:
        role = LEAD_FIELDS[column][0]
        return _finish(column, series, na, role, label, max_categories, min_category_count)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnPlan(column, "boolean", label), ""
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnPlan(column, "datetime", label), ""
    if pd.api.types.is_numeric_dtype(dtype):
        vals = series.dropna()
        if len(vals) and vals.isin([0, 1]).all():
            return ColumnPlan(column, "boolean", label), ""
        return _numeric(column, series, na, label)
    obj = object_values(series)
    present = [v for v in pd.unique(obj) if to_category(v, na) is not None]
    if not present:
        return None, "always missing"
    texts = [str(v).strip().lower() for v in present]
    if all(t in {"yes", "no", "true", "false", "y", "n", "t", "f"} for t in texts):
        return ColumnPlan(column, "boolean", label), ""
    sample = [str(v) for v in present[:500]]
    if sum(bool(_DATE_LIKE.match(s)) for s in sample) >= 0.98 * len(sample):
        return ColumnPlan(column, "datetime", label), ""
    nums = column_numbers(pd.Series(present, dtype=object), na)
    if np.isfinite(nums).mean() >= 0.98:
        return _numeric(column, series, na, label)
    return _finish(column, series, na, "categorical", label, max_categories, min_category_count)


# Words that name a record's number rather than a quantity: "Lead Number", "customer_id", "Ref No", "Lead #".
_ID_WORDS = frozenset({"id", "ids", "number", "no", "nr", "num", "key", "ref", "reference", "uuid", "guid",
                       "serial", "#"})
RECORD_NUMBER = "identifier (a whole number unique to almost every row, named like an id)"


def _numeric(column: str, series: pd.Series, na: frozenset[str], label: str) -> tuple[ColumnPlan | None, str]:
    """A numeric column's plan, or its exclusion when it holds record numbers."""
    if is_record_number(column, series, na):
        return None, RECORD_NUMBER
    return ColumnPlan(column, "numeric", label), ""


def mostly_distinct(distinct: int, present: int) -> bool:
    """The identifier bound of both rules (record numbers, unique text): more than 50 distinct
    values, and at least nine in ten present values distinct."""
    return distinct > 50 and distinct >= 0.9 * present


def is_record_number(column: str, values: pd.Series | np.ndarray, na: frozenset[str] = frozenset()) -> bool:
    """Whole numbers, nearly one per row, in a column named like an id (a record or phone number).

    Why: as a feature such a number says when the record was created, or nothing, and as a
    reason it is meaningless to an agent ("Lead Number 660,737 raises the score"); new leads'
    numbers lie beyond every value seen in training. A quantity that happens to be unique
    (a price, a floor area) keeps its role: its name has no id word."""
    words = re.findall(r"[a-z0-9]+|#", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(column)).lower())
    if not _ID_WORDS.intersection(words):  # first: most columns end here, before their values are read
        return False
    numbers = column_numbers(values, na)
    present = numbers[np.isfinite(numbers)]
    if len(present) <= 50 or not np.array_equal(present, np.floor(present)):
        return False
    return mostly_distinct(len(np.unique(present)), len(present))


def _finish(column, series, na, role, label, max_categories, min_category_count):
    if role != "categorical":
        return ColumnPlan(column, role, label), ""
    cats = pd.Series(map_unique(object_values(series), lambda v: to_category(v, na), dtype=object))
    counts = cats.dropna().value_counts()
    n_present = int(counts.sum())
    if n_present == 0:
        return None, "always missing"
    lengths = counts.index.str.len()
    words = counts.index.str.count(" ") + 1
    avg_words = float(np.average(words, weights=counts.to_numpy()))
    if avg_words >= 5 and len(counts) > 0.5 * n_present and column not in LEAD_FIELDS:
        return ColumnPlan(column, "text", label), ""
    if mostly_distinct(len(counts), n_present) and column not in LEAD_FIELDS:
        return None, "identifier (almost every value is unique)"
    if float(lengths.to_numpy().mean()) > 60 and column not in LEAD_FIELDS:
        return ColumnPlan(column, "text", label), ""
    frequent = counts[counts >= min_category_count]
    covered = float(frequent.sum()) / n_present
    # few levels, or many levels whose frequent ones still cover most rows → native categorical;
    # a long tail of rare levels → smoothed target + frequency encoding instead
    if len(frequent) <= max_categories and (len(counts) <= max_categories or covered >= 0.9):
        # code 0 groups rare and unseen values so they have training support
        return ColumnPlan(column, "categorical", label, categories=["other"] + list(frequent.index)), ""
    return ColumnPlan(column, "high_cardinality", label), ""


def fit_target_encoding(cats: np.ndarray, y: np.ndarray, smoothing: float) -> tuple[dict, dict, float]:
    """Smoothed target rate and frequency per category (m-estimate toward the prior)."""
    prior = float(np.mean(y))
    frame = pd.DataFrame({"c": cats, "y": y}).dropna(subset=["c"])
    grouped = frame.groupby("c", sort=False)["y"].agg(["sum", "count"])
    rate = (grouped["sum"] + smoothing * prior) / (grouped["count"] + smoothing)
    freq = grouped["count"] / max(len(cats), 1)
    return rate.to_dict(), freq.to_dict(), prior


def plan_features(plan: ColumnPlan) -> list[FeatureSpec]:
    """Feature specs a column produces, in output order."""
    c, label, name = plan.column, plan.label, safe_name(plan.column)
    if plan.role == "numeric":
        tpl, miss = FIELD_SENTENCES.get(c, (f"{label} is {{value:,.4g}}", f"{label} is not given"))
        zero, one = FIELD_COUNTS.get(c, ("", ""))
        return [FeatureSpec(name, "numeric", tpl, miss, source=c, zero_template=zero, one_template=one)]
    if plan.role == "boolean":
        yes, no = BOOLEAN_SENTENCES.get(c, (f"{label}: yes", f"{label}: no"))
        return [FeatureSpec(name, "boolean", yes, f"{label} is not given", source=c, false_template=no)]
    if plan.role == "categorical":
        return [FeatureSpec(name, "categorical", f"{label} is '{{label}}'", f"{label} is not given",
                            source=c, categories=tuple(plan.categories))]
    if plan.role == "high_cardinality":
        return [
            FeatureSpec(f"{name}_rate", "numeric",
                        f"{label} value has converted {{value:.0%}} of the time", f"{label} is not given", source=c),
            FeatureSpec(f"{name}_freq", "numeric",
                        f"{label} value is shared by {{value:.2%}} of leads", f"{label} is not given", source=c),
        ]
    if plan.role == "datetime":
        if c == CREATED_AT:
            zero, one = FIELD_COUNTS["lead_age_days"]
            specs = [FeatureSpec("lead_age_days", "numeric", *FIELD_SENTENCES["lead_age_days"], source=c,
                                 zero_template=zero, one_template=one),
                     FeatureSpec("created_dow", "numeric", *FIELD_SENTENCES["created_dow"], source=c)]
            if plan.with_hour:
                specs.append(FeatureSpec("created_hour", "numeric", *FIELD_SENTENCES["created_hour"], source=c))
            return specs
        ago = days_ago(f"{label} was")
        specs = [FeatureSpec(f"{name}_days_ago", "numeric", ago.many, f"{label} is not known yet", source=c,
                             zero_template=ago.zero, one_template=ago.one),
                 FeatureSpec(f"{name}_dow", "numeric", f"{label} fell on a {{dow}}", f"{label} is not known yet",
                             source=c)]
        if plan.with_hour:
            specs.append(FeatureSpec(f"{name}_hour", "numeric", f"{label} was at {{value:.0f}}:00 (UTC)",
                                     f"{label} is not known yet", source=c))
        return specs
    if plan.role == "text":
        specs = [FeatureSpec(f"{name}_length", "numeric", f"{label} is {{value:.0f}} characters long",
                             f"No {label.lower()} given", source=c, zero_template=f"{label} is empty",
                             one_template=f"{label} is 1 character long"),
                 FeatureSpec(f"{name}_words", "numeric", f"{label} has {{value:.0f}} words",
                             f"No {label.lower()} given", source=c, zero_template=f"{label} has no words",
                             one_template=f"{label} has 1 word")]
        for kw in plan.keywords:
            phrase = TEXT_KEYWORDS[kw][1]
            specs.append(FeatureSpec(f"{name}_{kw}", "boolean", f"{label} {phrase}", f"No {label.lower()} given",
                                     source=c, false_template=f"{label}: no sign that it {phrase}"))
        return specs
    raise ValueError(f"unknown role {plan.role}")


def encode_column(plan: ColumnPlan, values: pd.Series | np.ndarray, as_of: np.ndarray,
                  na: frozenset[str]) -> np.ndarray:
    """Feature block (n, k) of one column, k = len(plan_features(plan)).

    Datetime columns are treated as event timestamps: a value at or after the
    row's ``as_of`` has not happened yet, so it becomes missing (point in time).
    """
    n = len(values)
    if plan.role == "numeric":
        return column_numbers(values, na).reshape(n, 1)
    if plan.role == "boolean":
        if isinstance(values, pd.Series) and pd.api.types.is_bool_dtype(values.dtype):
            return values.to_numpy(dtype=np.float64, na_value=np.nan).reshape(n, 1)
        return map_unique(values, lambda v: to_bool(v, na)).reshape(n, 1)
    if plan.role == "categorical":
        index = {c: float(i) for i, c in enumerate(plan.categories) if i > 0}

        def code(v: object) -> float:
            cat = to_category(v, na)
            return math.nan if cat is None else index.get(cat, 0.0)

        return map_unique(values, code).reshape(n, 1)
    if plan.role == "high_cardinality":
        cats = map_unique(values, lambda v: to_category(v, na), dtype=object)
        return np.column_stack([
            map_unique(cats, lambda v: math.nan if v is None else plan.te_map.get(v, plan.prior)),
            map_unique(cats, lambda v: math.nan if v is None else plan.freq_map.get(v, 0.0)),
        ])
    if plan.role == "datetime":
        ns = column_ns(values, na)
        known = (ns != NAT) & (ns < as_of)
        out = np.full((n, 3 if plan.with_hour else 2), np.nan)
        out[known, 0] = (as_of[known] - ns[known]) / DAY_NS
        out[known, 1] = ((ns[known] // DAY_NS) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        if plan.with_hour:
            out[known, 2] = (ns[known] // HOUR_NS) % 24
        return out
    if plan.role == "text":
        def stats(v: object) -> tuple:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return (math.nan,) * (2 + len(plan.keywords))
            s = str(v)
            if s.strip().lower() in na:
                return (math.nan,) * (2 + len(plan.keywords))
            flags = tuple(float(bool(_KEYWORD_RE[k].search(s))) for k in plan.keywords)
            return (float(len(s)), float(len(s.split()))) + flags

        obj = object_values(values)
        if n <= 32:
            return np.array([stats(v) for v in obj], dtype=np.float64).reshape(n, -1)
        codes, uniques = pd.factorize(obj, use_na_sentinel=True)
        table = np.array([stats(u) for u in uniques] + [stats(None)], dtype=np.float64)
        return table[codes]
    raise ValueError(f"unknown role {plan.role}")


def finish_plan(plan: ColumnPlan, series: pd.Series, y: np.ndarray | None, na: frozenset[str],
                smoothing: float) -> ColumnPlan:
    """Learn the data-dependent parts of a plan (hour use, keywords, encodings)."""
    if plan.role == "datetime":
        ns = column_ns(series, na)
        ns = ns[ns != NAT]
        plan.with_hour = bool(len(ns)) and float(np.mean(ns % DAY_NS != 0)) >= 0.05
    elif plan.role == "text":
        obj = object_values(series)
        kept = []
        for kw, rx in _KEYWORD_RE.items():
            hits = sum(1 for v in obj if isinstance(v, str) and rx.search(v))
            if 0 < hits < len(obj):
                kept.append(kw)
        plan.keywords = tuple(kept)
    elif plan.role == "high_cardinality":
        cats = map_unique(object_values(series), lambda v: to_category(v, na), dtype=object)
        target = np.zeros(len(cats)) if y is None else np.asarray(y, dtype=float)
        plan.te_map, plan.freq_map, plan.prior = fit_target_encoding(cats, target, smoothing)
        if y is None:  # no labels: only the frequency is meaningful
            plan.te_map = {}
            plan.prior = math.nan
    return plan
