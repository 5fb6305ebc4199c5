"""Probability calibration of raw log-odds, method chosen by validation.

The model's raw output is a log-odds score. ``Calibrator`` maps it to a
probability with Platt scaling (a logistic curve, 2 parameters: robust on
small data) or isotonic regression (monotone step function: flexible, needs
more data). With ``method="auto"`` both are fitted on k-1 folds of the
held-out predictions and scored by log loss on the remaining fold; the winner
is refitted on all of them. This is what ``sklearn.calibration`` does with a
frozen estimator (``CalibratedClassifierCV(FrozenEstimator(model))``), but on
the 1-D raw score directly, which keeps the map cheap to evaluate for the
points decomposition in ``explain.py``.

Every map is monotone non-decreasing, so calibrating never reorders leads
and never changes the sign of a reason.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

P_MIN, P_MAX = 1e-4, 1 - 1e-4  # isotonic plateaus at exactly 0/1 would give infinite log loss


class Calibrator(BaseEstimator):
    """Monotone map from raw log-odds to calibrated probability."""

    def __init__(self, method: str = "auto", cv: int = 5, random_state: int = 0):
        self.method = method
        self.cv = cv
        self.random_state = random_state

    def fit(self, raw, y):
        raw = np.asarray(raw, dtype=float)
        y = np.asarray(y, dtype=int)
        method = self.method
        self.cv_log_loss_ = {}
        if method == "auto":
            min_class = int(np.bincount(y, minlength=2).min())
            folds = min(self.cv, min_class)
            if folds >= 2:
                skf = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
                for candidate in ("sigmoid", "isotonic"):
                    p = np.empty(len(y))
                    for tr, te in skf.split(raw, y):
                        p[te] = _fit_one(candidate, raw[tr], y[tr])(raw[te])
                    self.cv_log_loss_[candidate] = float(log_loss(y, p, labels=[0, 1]))
                method = min(self.cv_log_loss_, key=self.cv_log_loss_.get)
            else:
                method = "sigmoid"
        self.method_ = method
        self._map = _fit_one(method, raw, y)
        return self

    def transform(self, raw) -> np.ndarray:
        if not hasattr(self, "_map"):  # cheaper than check_is_fitted on the scoring hot path
            check_is_fitted(self, "method_")
        return self._map(np.asarray(raw, dtype=float))

    predict = transform


class _Sigmoid:
    def __init__(self, a: float, b: float):
        self.a, self.b = a, b

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * raw + self.b)))


class _Isotonic:
    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        # linear between knots, flat beyond (clip); the tiny tanh term breaks the ties of isotonic
        # plateaus so the calibrated order equals the raw order (ties would cost ROC AUC)
        p = np.interp(raw, self.x, self.y) + 1e-7 * np.tanh(raw)
        return np.clip(p, P_MIN / 2, 1 - P_MIN / 2)


def _fit_one(method: str, raw: np.ndarray, y: np.ndarray):
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(raw.reshape(-1, 1), y)
        return _Sigmoid(float(lr.coef_[0, 0]), float(lr.intercept_[0]))
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=P_MIN, y_max=P_MAX).fit(raw, y)
        return _Isotonic(np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float))
    raise ValueError(f"unknown calibration method {method!r}")
