"""``FeatureBuilder``: the fitted estimator that turns leads (+ interactions) into features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from ..fairness import protected_reason
from .interaction_inputs import InteractionArrays, arrays_from_dicts, arrays_from_frame, fit_interaction_plan
from .interactions import compute_interaction_features, interaction_specs
from .schema import (
    CREATED_AT,
    DEFAULT_NA_VALUES,
    ID_COLUMNS,
    NAT,
    FeatureSpec,
    as_of_ns,
    column_ns,
    column_numbers,
    map_unique,
    object_values,
    to_category,
)
from .tabular import encode_column, finish_plan, fit_target_encoding, plan_features, profile_column

_CTX_NUMERIC = ("price_min", "price_max", "bedrooms")


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Automatic, point-in-time correct features for lead scoring.

    Learns in ``fit`` which columns to use and how (numeric, yes/no,
    categorical vocabulary, target + frequency encoding for high-cardinality
    columns, date parts, text statistics), the interaction vocabularies, and
    drops protected columns (``fairness.py``) and ``exclude``-d columns,
    recording each in ``excluded_columns_`` with its reason.

    ``transform`` (batch, vectorised) and ``transform_one`` (one lead given as
    a dict and a list of interaction dicts, no pandas) share one definition
    and return identical numbers. Features as of ``as_of`` use only
    interactions strictly before it; datetime fields at or after it count as
    not yet known. ``as_of`` may be one timestamp or one per lead row; when
    omitted, ``fit`` uses the end of the training data and ``transform`` uses
    the current time.

    ``fit_transform(..., y=...)`` returns out-of-fold target encodings for the
    training rows (like sklearn's ``TargetEncoder``), so a model trained on
    its output does not see its own labels through the encoding.
    """

    def __init__(self, na_values: Sequence[str] = DEFAULT_NA_VALUES, exclude: Sequence[str] = (),
                 max_categories: int = 50, min_category_count: int = 20, target_smoothing: float = 20.0,
                 target_folds: int = 5, windows: Sequence[int] = (1, 7, 30, 90), max_interaction_types: int = 15,
                 random_state: int = 0):
        self.na_values = na_values
        self.exclude = exclude
        self.max_categories = max_categories
        self.min_category_count = min_category_count
        self.target_smoothing = target_smoothing
        self.target_folds = target_folds
        self.windows = windows
        self.max_interaction_types = max_interaction_types
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, y=None, as_of=None):
        self._fit(leads, interactions, y, as_of)
        return self

    def fit_transform(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, y=None, as_of=None,
                      **_) -> pd.DataFrame:
        full = self._fit(leads, interactions, y, as_of)
        if y is not None:
            self._out_of_fold_encodings(leads, np.asarray(y, dtype=float), full)
        return pd.DataFrame(full[:, self.keep_], columns=self.feature_names_, index=leads.index)

    def _fit(self, leads, interactions, y, as_of) -> np.ndarray:
        na = self._na()
        excluded: dict[str, str] = {}
        plans = []
        for col in leads.columns:
            reason = protected_reason(col)  # first, so nothing can re-enable a protected column
            if reason is None and col in ID_COLUMNS:
                reason = "identifier"
            if reason is None and col in set(self.exclude):
                reason = "excluded by configuration"
            if reason is None:
                plan, reason = profile_column(col, leads[col], na, max_categories=self.max_categories,
                                              min_category_count=self.min_category_count)
                if plan is not None:
                    finish_plan(plan, leads[col], None if y is None else np.asarray(y), na, self.target_smoothing)
                    plans.append(plan)
                    continue
            excluded[col] = reason
        self.column_plans_ = plans
        self.excluded_columns_ = excluded
        self.interaction_plan_ = None
        if interactions is not None:
            self.interaction_plan_ = fit_interaction_plan(interactions, na, tuple(self.windows),
                                                          self.max_interaction_types)
        self.reference_time_ = self._data_end(leads, interactions)
        specs: list[FeatureSpec] = [s for p in plans for s in plan_features(p)]
        if self.interaction_plan_ is not None:
            specs += interaction_specs(self.interaction_plan_)
        self._all_specs = specs
        ref = self.reference_time_ if as_of is None else as_of
        self.keep_ = np.arange(len(specs))
        full = self._matrix(leads, interactions, as_of_ns(ref, len(leads)))
        # drop features that are constant on the training data: they cannot help
        finite = ~np.isnan(full)
        lo = np.where(finite, full, np.inf).min(axis=0) if len(full) else np.zeros(full.shape[1])
        hi = np.where(finite, full, -np.inf).max(axis=0) if len(full) else np.zeros(full.shape[1])
        some_missing = (~finite).any(axis=0)
        varying = (hi > lo) | (some_missing & finite.any(axis=0))
        self.keep_ = np.flatnonzero(varying)
        self.feature_specs_ = [specs[i] for i in self.keep_]
        self.feature_names_ = [s.name for s in self.feature_specs_]
        self._spec_by_name = {s.name: s for s in self.feature_specs_}
        self.n_features_in_ = leads.shape[1]
        return full

    def _out_of_fold_encodings(self, leads: pd.DataFrame, y: np.ndarray, full: np.ndarray) -> None:
        na = self._na()
        col_of = {}
        pos = 0
        for plan in self.column_plans_:
            width = len(plan_features(plan))
            if plan.role == "high_cardinality":
                col_of[plan.column] = (plan, pos)
            pos += width
        if not col_of:
            return
        binary = len(np.unique(y)) == 2 and np.bincount(y.astype(int)).min() >= self.target_folds
        splitter = (StratifiedKFold if binary else KFold)(self.target_folds, shuffle=True,
                                                          random_state=self.random_state)
        for column, (plan, pos) in col_of.items():
            cats = map_unique(object_values(leads[column]), lambda v: to_category(v, na), dtype=object)
            oof = np.full(len(cats), np.nan)
            for tr, te in splitter.split(cats, y.astype(int) if binary else None):
                rate, _, prior = fit_target_encoding(cats[tr], y[tr], self.target_smoothing)
                oof[te] = [np.nan if c is None else rate.get(c, prior) for c in cats[te]]
            full[:, pos] = oof

    # ------------------------------------------------------------ transform
    def transform(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        check_is_fitted(self, "keep_")
        full = self._matrix(leads, interactions, as_of_ns(as_of, len(leads)))
        # full is column-major, so is full[:, keep_]: wrapped as is (pandas would copy a row-major array)
        return pd.DataFrame(full[:, self.keep_], columns=self.feature_names_, index=leads.index, copy=False)

    def transform_one(self, lead: dict, interactions: Sequence[dict] = (), as_of=None) -> np.ndarray:
        """Features of one lead as a (1, n_features) array, without pandas."""
        interactions = list(interactions)
        return self.transform_records([lead], interactions, [0] * len(interactions), as_of)

    def transform_records(self, leads: Sequence[Mapping], interactions: Sequence[Mapping] = (),
                          owners: Sequence[int] = (), as_of=None) -> np.ndarray:
        """Features of leads given as dicts, an (n, n_features) array, without pandas.

        ``owners[i]`` is the position in ``leads`` of ``interactions[i]``. Why: the online
        path and small batches (the stateless scoring endpoint) cost the same few numpy calls
        per column however many leads there are, where building DataFrames for ``transform``
        costs more than the features. Same values as ``transform`` (tests compare).
        """
        check_is_fitted(self, "keep_")
        na = self._na()
        n = len(leads)
        if n == 0:
            return np.empty((0, len(self.keep_)))
        at = as_of_ns(as_of, n)
        blocks = [encode_column(p, _field(leads, p.column), at, na) for p in self.column_plans_]
        if self.interaction_plan_ is not None:
            if len(owners) != len(interactions):
                raise ValueError(f"{len(interactions)} interactions but {len(owners)} owners")
            ctx = self._lead_context_records(leads, na)
            arrays = arrays_from_dicts(interactions, self.interaction_plan_, na, lead=owners)
            blocks.append(compute_interaction_features(arrays, n, at, ctx, self.interaction_plan_))
        full = np.hstack(blocks) if blocks else np.empty((n, 0))
        return full[:, self.keep_]

    def describe(self, name: str, value: float) -> str:
        """Plain-language sentence for a feature value (e.g. 'Viewed 14 listings in the last 7 days')."""
        try:
            spec = self._spec_by_name[name]  # no check_is_fitted here: this is on the scoring hot path
        except AttributeError:
            check_is_fitted(self, "keep_")
            raise
        return spec.describe(value)

    def describe_many(self, name: str, values: np.ndarray) -> np.ndarray:
        """``describe`` for many values of one feature (object array, identical strings), vectorised."""
        check_is_fitted(self, "keep_")
        return self._spec_by_name[name].describe_many(values)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "keep_")
        return np.array(self.feature_names_, dtype=object)

    @property
    def categorical_features_(self) -> list[int]:
        """Indices of features holding category codes (for LightGBM's categorical handling)."""
        return [i for i, s in enumerate(self.feature_specs_) if s.kind == "categorical"]

    # ------------------------------------------------------------- internals
    def _na(self) -> frozenset[str]:
        return frozenset(str(v).strip().lower() for v in self.na_values)

    def _matrix(self, leads: pd.DataFrame, interactions: pd.DataFrame | None, at: np.ndarray) -> np.ndarray:
        """All features, column-major: the model reads one feature (column) at a time, and pandas
        wraps a column-major array without copying it. Blocks are written in place."""
        na = self._na()
        n = len(leads)
        widths = [len(plan_features(plan)) for plan in self.column_plans_]
        n_ix = 0 if self.interaction_plan_ is None else len(interaction_specs(self.interaction_plan_))
        full = np.empty((n, sum(widths) + n_ix), order="F")
        pos = 0
        for plan, width in zip(self.column_plans_, widths):
            values = leads[plan.column] if plan.column in leads else np.full(n, None, dtype=object)
            full[:, pos:pos + width] = encode_column(plan, values, at, na)
            pos += width
        if self.interaction_plan_ is not None:
            ctx = self._lead_context(leads, na)
            arrays = self._interaction_arrays(leads, interactions, na)
            compute_interaction_features(arrays, n, at, ctx, self.interaction_plan_, out=full[:, pos:])
        return full

    def _interaction_arrays(self, leads, interactions, na) -> InteractionArrays:
        if interactions is None or len(interactions) == 0:
            return arrays_from_dicts([], self.interaction_plan_, na)
        if "lead_id" not in leads:
            raise ValueError("leads need a lead_id column to be joined with interactions")
        lead_ids = leads["lead_id"].to_numpy()
        index = pd.Index(lead_ids)
        if index.is_unique:
            rows = index.get_indexer(interactions["lead_id"].to_numpy())
            return arrays_from_frame(interactions, rows, self.interaction_plan_, na)
        # the same lead at several as-of times: repeat its interactions for each row
        link = pd.DataFrame({"lead_id": lead_ids, "_row": np.arange(len(lead_ids))})
        expanded = interactions.reset_index(drop=True).reset_index(names="_ix").merge(link, on="lead_id")
        return arrays_from_frame(expanded, expanded["_row"].to_numpy(), self.interaction_plan_, na)

    @staticmethod
    def _lead_context(leads: pd.DataFrame, na) -> dict[str, np.ndarray]:
        n = len(leads)
        ctx = {c: column_numbers(leads[c], na) if c in leads else np.full(n, np.nan) for c in _CTX_NUMERIC}
        ctx["created"] = column_ns(leads[CREATED_AT], na) if CREATED_AT in leads else np.full(n, NAT, np.int64)
        ctx["postcode"] = (map_unique(leads["postcode"], lambda v: to_category(v, na), dtype=object)
                           if "postcode" in leads else np.full(n, None, dtype=object))
        return ctx

    @staticmethod
    def _lead_context_records(leads: Sequence[Mapping], na) -> dict[str, np.ndarray]:
        ctx = {c: column_numbers(_field(leads, c), na) for c in _CTX_NUMERIC}
        ctx["created"] = column_ns(_field(leads, CREATED_AT), na)
        ctx["postcode"] = map_unique(_field(leads, "postcode"), lambda v: to_category(v, na), dtype=object)
        return ctx

    def _data_end(self, leads: pd.DataFrame, interactions) -> pd.Timestamp:
        na = self._na()
        ends = []
        for plan in self.column_plans_:
            if plan.role == "datetime":
                ns = column_ns(leads[plan.column], na)
                ns = ns[ns != NAT]
                if len(ns):
                    ends.append(int(ns.max()))
        if interactions is not None and "occurred_at" in interactions and len(interactions):
            ns = column_ns(interactions["occurred_at"], na)
            ns = ns[ns != NAT]
            if len(ns):
                ends.append(int(ns.max()))
        if not ends:
            return pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
        return pd.Timestamp(max(ends)) + pd.Timedelta(seconds=1)


def _field(records: Sequence[Mapping], name: str) -> np.ndarray:
    """One field of every record as an object array (missing = None), each value stored as is."""
    if len(records) == 1:  # the online path, once per column: a generator costs more than the rest
        one = np.empty(1, dtype=object)
        one[0] = records[0].get(name)
        return one
    return np.fromiter((record.get(name) for record in records), dtype=object, count=len(records))
