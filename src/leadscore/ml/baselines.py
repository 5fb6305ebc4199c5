"""Logistic-regression baseline on the builder's features (one-hot + scaling)."""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def logistic_baseline(n_features: int, categorical: list[int], seed: int = 0) -> Pipeline:
    """One-hot for category codes, median-impute + missing flags + scaling for numbers."""
    cats = sorted(set(categorical))
    nums = [j for j in range(n_features) if j not in set(cats)]
    parts = []
    if cats:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value=-1.0),
                                           OneHotEncoder(handle_unknown="ignore")), cats))
    if nums:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                           StandardScaler()), nums))
    return Pipeline([("prep", ColumnTransformer(parts)),
                     ("lr", LogisticRegression(C=1.0, max_iter=3000, random_state=seed))])


def fit_logistic(X: np.ndarray, y: np.ndarray, categorical: list[int], seed: int = 0,
                 max_rows: int = 200_000) -> Pipeline:
    """Fit the baseline, on a seeded subsample when the data is large (it is only a yardstick)."""
    if len(X) > max_rows:
        idx = np.random.default_rng(seed).choice(len(X), max_rows, replace=False)
        X, y = X[idx], y[idx]
    X = np.where(np.isinf(X), np.nan, X)
    return logistic_baseline(X.shape[1], categorical, seed).fit(X, y)
