"""Deal value if won: conformalised quantile regression (CQR) with LightGBM.

Three LightGBM quantile models (P10, P50, P90 by default) are trained on the
log of the deal value of won leads; quantiles survive a monotone transform,
and the log keeps a $9k rental and a $9M home on one scale. Quantile models
are often over-confident, so the interval is then *conformalised* (Romano et
al., 2019): on a calibration share of the won leads, held out from the
quantile models, the interval is widened (or narrowed) by the conformity
score's quantile, which guarantees ≈ nominal coverage on exchangeable data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .features import FeatureBuilder
from .features.schema import DEFAULT_NA_VALUES


class DealValueModel(BaseEstimator):
    def __init__(self, *, quantiles=(0.1, 0.5, 0.9), calibration_fraction: float = 0.25, exclude=(),
                 na_values=DEFAULT_NA_VALUES, n_estimators: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_child_samples: int = 20, n_jobs: int = 1, random_state: int = 0):
        self.quantiles = quantiles
        self.calibration_fraction = calibration_fraction
        self.exclude = exclude
        self.na_values = na_values
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, leads: pd.DataFrame, interactions: pd.DataFrame | None, deal_value, as_of=None):
        leads = leads.reset_index(drop=True)
        y = np.log(np.maximum(np.asarray(deal_value, dtype=float), 1.0))
        if not np.isfinite(y).all():
            raise ValueError("deal values must be finite numbers")
        self.builder_ = FeatureBuilder(na_values=self.na_values, exclude=self.exclude,
                                       random_state=self.random_state)
        X = self.builder_.fit(leads, interactions, as_of=as_of).transform(leads, interactions, as_of=as_of).to_numpy()
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(y))
        n_cal = int(round(self.calibration_fraction * len(y))) if len(y) >= 40 else 0
        cal, fit = order[:n_cal], order[n_cal:]
        self.models_ = [
            LGBMRegressor(objective="quantile", alpha=q, n_estimators=self.n_estimators,
                          learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                          min_child_samples=self.min_child_samples, subsample=0.8, subsample_freq=1,
                          colsample_bytree=0.8, n_jobs=self.n_jobs, random_state=self.random_state,
                          verbose=-1).fit(X[fit], y[fit])
            for q in self.quantiles
        ]
        self.adjustment_ = 0.0
        if n_cal:
            low, _, high = self._raw(X[cal])
            scores = np.maximum(low - y[cal], y[cal] - high)
            nominal = self.quantiles[-1] - self.quantiles[0]
            level = min(1.0, nominal * (1 + 1 / n_cal))
            self.adjustment_ = float(np.quantile(scores, level, method="higher"))
        self.feature_names_ = list(self.builder_.feature_names_)
        self.n_train_ = len(y)
        return self

    def _raw(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        predictions = np.sort(np.column_stack([m.predict(X) for m in self.models_]), axis=1)  # no crossing
        return predictions[:, 0], predictions[:, len(self.models_) // 2], predictions[:, -1]

    def predict(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        check_is_fitted(self, "models_")
        leads = leads.reset_index(drop=True)
        if interactions is not None and len(interactions):
            interactions = interactions[interactions["lead_id"].isin(leads["lead_id"])]
        X = self.builder_.transform(leads, interactions, as_of=as_of).to_numpy()
        low, middle, high = self._raw(X)
        low, high = low - self.adjustment_, high + self.adjustment_
        middle = np.clip(middle, low, high)
        return pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "deal_value_p10": np.exp(low),
                             "deal_value_p50": np.exp(middle), "deal_value_p90": np.exp(high)})


def evaluate_value_model(model: DealValueModel, leads: pd.DataFrame, interactions: pd.DataFrame | None,
                         deal_value, as_of=None) -> dict:
    """Coverage of the P10–P90 interval (nominal 80 %) and MAE of P50 on held-out won leads."""
    from .forecast import interval_metrics

    predicted = model.predict(leads, interactions, as_of=as_of)
    return {**interval_metrics(deal_value, predicted["deal_value_p10"], predicted["deal_value_p50"],
                               predicted["deal_value_p90"]),
            "nominal_coverage": float(model.quantiles[-1] - model.quantiles[0])}
