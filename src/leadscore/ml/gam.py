"""Boosted GAM on LightGBM with exact, fast per-feature contributions.

Design (why): reasons must be the model's own per-feature contributions, add
up exactly, and cost almost nothing (1M leads with reasons in under a minute;
LightGBM's exact ``pred_contrib`` manages ~900 rows/s on a 300-tree model).
So every tree is restricted to a single feature with LightGBM's
``interaction_constraints=[[0], [1], ...]``. The model is then additive in
log-odds::

    raw(x) = c + f_1(x_1) + ... + f_d(x_d)

and each ``f_j`` is a step function of one feature. After training we read
every split threshold from the booster, evaluate the booster once on a small
grid (one point per interval between thresholds, plus missing) and store, per
feature, a lookup table. Scoring is then ``searchsorted`` + a table lookup per
feature: contributions are *exact* (not approximated: the tables reproduce
``booster.predict(raw_score=True)``, checked at fit time to 1e-6) and fast.
Contributions are centred on the training mean, so ``expected_value_`` is the
average lead's log-odds and ``expected_value_ + sum(contributions) == raw``.

Cost: no feature interactions. Measured in 5-fold CV on the shared datasets
(benchmarks/RESULTS.md; same features and LightGBM settings, with versus
without the constraint): ROC AUC −0.0024 on X Education (all columns),
−0.0071 on X Education (pre-contact columns), +0.0054 on Olist and +0.0137 on
Maven (there the constraint regularises). The next step if the cost matters
is a few disjoint pairwise groups (a GA²M) whose 2-D tables are split between
the two features by their exact two-player Shapley values, which keeps the
contributions exact and the lookups fast.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

_LGB_FIXED = {"objective": "binary", "verbosity": -1, "deterministic": True, "force_row_wise": True,
              "feature_pre_filter": False}


class FeatureTable:
    """Step function of one feature: thresholds → values, plus the value for missing."""

    __slots__ = ("kind", "thresholds", "values", "nan_value", "_t", "_v")

    def __init__(self, kind: str, thresholds: np.ndarray, values: np.ndarray, nan_value: float):
        self.kind = kind  # "numeric" or "categorical"
        self.thresholds = thresholds
        self.values = values
        self.nan_value = float(nan_value)
        self.freeze()

    def freeze(self) -> None:
        """Plain-list copies for the scalar path (bisect on a list beats numpy on one value)."""
        self._t = [float(v) for v in self.thresholds]
        self._v = [float(v) for v in self.values]

    def lookup(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        nan = np.isnan(x)
        if self.kind == "numeric":
            # LightGBM sends x <= threshold left, so x in (t[i-1], t[i]] takes values[i]
            idx = np.searchsorted(self.thresholds, np.where(nan, 0.0, x), side="left")
        else:
            last = len(self.values) - 1  # last slot = categories never seen in training
            idx = np.clip(np.where(nan | (x < 0), 0, x), 0, last).astype(np.int64)
            nan = nan | (x < 0)
        return np.where(nan, self.nan_value, self.values[idx])

    def lookup_scalar(self, x: float) -> float:
        if x != x or (self.kind == "categorical" and x < 0):
            return self.nan_value
        if self.kind == "numeric":
            return self._v[bisect_left(self._t, x)]  # same rule as searchsorted(side="left")
        return self._v[min(int(x), len(self._v) - 1)]


def _split_thresholds(booster, n_features: int) -> list[set]:
    found: list[set] = [set() for _ in range(n_features)]

    def walk(node: dict) -> None:
        if "split_feature" not in node:
            return
        if node.get("decision_type") == "<=":
            found[node["split_feature"]].add(float(node["threshold"]))
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return found


def build_tables(booster, X: np.ndarray, categorical: list[int], num_iteration: int | None = None):
    """Per-feature lookup tables for a single-feature-per-tree booster.

    Returns (tables, expected_value) with tables centred on the mean over ``X``.
    """
    n, d = X.shape
    cats = set(categorical)
    thresholds = _split_thresholds(booster, d)
    grids = []
    for j in range(d):
        if j in cats:
            top = int(np.nanmax(X[:, j])) if np.isfinite(X[:, j]).any() else 0
            grid = np.arange(top + 2, dtype=np.float64)  # every seen code + one unseen slot
        else:
            t = np.array(sorted(thresholds[j]), dtype=np.float64)
            grid = np.append(t, np.nextafter(t[-1], np.inf)) if len(t) else np.zeros(1)
        grids.append(grid)
    sizes = [len(g) + 1 for g in grids]  # +1: the missing value
    rows = np.full((1 + sum(sizes), d), np.nan)
    pos = 1  # row 0: everything missing (the reference point)
    for j, g in enumerate(grids):
        rows[pos:pos + len(g), j] = g
        pos += sizes[j]
    raw = booster.predict(rows, raw_score=True, num_iteration=num_iteration)
    ref = raw[0]
    tables = []
    pos = 1
    for j, g in enumerate(grids):
        vals = raw[pos:pos + len(g)] - ref
        nan_val = raw[pos + len(g)] - ref
        pos += sizes[j]
        kind = "categorical" if j in cats else "numeric"
        tables.append(FeatureTable(kind, g[:-1] if kind == "numeric" else np.empty(0), vals, nan_val))
    # centre each table on the training mean so contributions read "versus the average lead"
    expected = float(ref)
    for j, table in enumerate(tables):
        mean = float(table.lookup(X[:, j]).mean()) if n else 0.0
        table.values = table.values - mean
        table.nan_value -= mean
        table.freeze()
        expected += mean
    return tables, expected


class AdditiveBoostingClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM GAM (one feature per tree) exposing exact additive contributions.

    ``fit(X, y, eval_set=(X_valid, y_valid))`` early-stops on the eval set;
    without one it trains ``n_estimators`` rounds.
    """

    def __init__(self, n_estimators: int = 2000, learning_rate: float = 0.05, num_leaves: int = 8,
                 min_child_samples: int = 20, reg_lambda: float = 1.0, max_bin: int = 255,
                 early_stopping_rounds: int = 100, scale_pos_weight: float = 1.0, cat_smooth: float = 10.0,
                 min_data_per_group: int = 50, n_jobs: int = 2, random_state: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.scale_pos_weight = scale_pos_weight
        self.cat_smooth = cat_smooth
        self.min_data_per_group = min_data_per_group
        self.n_jobs = n_jobs
        self.random_state = random_state

    def lgb_params(self, n_features: int) -> dict:
        return {**_LGB_FIXED, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_child_samples, "lambda_l2": self.reg_lambda,
                "max_bin": self.max_bin, "scale_pos_weight": self.scale_pos_weight,
                "cat_smooth": self.cat_smooth, "min_data_per_group": self.min_data_per_group,
                "num_threads": self.n_jobs, "seed": self.random_state,
                "interaction_constraints": [[j] for j in range(n_features)]}

    def fit(self, X, y, eval_set=None, categorical_features=(), sample_weight=None):
        import lightgbm as lgb

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        cats = list(categorical_features)
        params = self.lgb_params(X.shape[1])
        if len(X) < 50_000:
            # measured: with one-feature-per-tree constraints, 2 threads on a few thousand rows run
            # ~6x slower than 1 (thread start-up dominates tiny histograms)
            params["num_threads"] = 1
        train = lgb.Dataset(X, y, weight=sample_weight, categorical_feature=cats or "auto", free_raw_data=True)
        callbacks, valid_sets = [], []
        if eval_set is not None:
            Xv, yv = eval_set
            valid_sets = [lgb.Dataset(np.asarray(Xv, dtype=np.float64), np.asarray(yv, dtype=np.float64),
                                      reference=train, categorical_feature=cats or "auto")]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(params, train, num_boost_round=self.n_estimators, valid_sets=valid_sets,
                                  callbacks=callbacks)
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.booster_ = self.booster_  # keep the full booster; tables use best_iteration_
        self.categorical_features_ = cats
        self.tables_, self.expected_value_ = build_tables(self.booster_, X, cats, self.best_iteration_)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        check = X[: min(len(X), 2000)]
        gap = np.max(np.abs(self.decision_function(check) -
                            self.booster_.predict(check, raw_score=True, num_iteration=self.best_iteration_)),
                     initial=0.0)
        if gap > 1e-6:  # would mean a tree used two features: contributions would not be exact
            raise RuntimeError(f"additive lookup tables disagree with LightGBM by {gap:.2e}")
        return self

    def contributions(self, X) -> np.ndarray:
        """Per-feature log-odds contributions (n, d); rows sum to raw score − expected_value_."""
        check_is_fitted(self, "tables_")
        X = np.asarray(X, dtype=np.float64)
        out = np.empty_like(X)
        for j, table in enumerate(self.tables_):
            out[:, j] = table.lookup(X[:, j])
        return out

    def contributions_one(self, x) -> np.ndarray:
        """Contributions of one row (1-D), in plain Python per feature: fast for the online path."""
        return np.array([t.lookup_scalar(v) for t, v in zip(self.tables_, np.ravel(x).tolist())])

    def decision_function(self, X) -> np.ndarray:
        return self.expected_value_ + self.contributions(X).sum(axis=1)

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def feature_importance(self) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return self.booster_.feature_importance("gain", iteration=self.best_iteration_)
