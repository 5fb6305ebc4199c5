"""Forecasts beyond "will it convert": when (survival) and for how much (deal value).

Public API::

    TimeToConvertModel(landmarks=(0, 7, 14, 30, 60, 90), bin_days=15, n_bins=12, ...)
        .fit(leads, interactions, *, duration_days, event, observed_until=None) -> self
        .predict(leads, interactions, as_of) -> DataFrame
              [lead_id, p_convert_30d, p_convert_60d, p_convert_90d, median_days_to_convert]
    evaluate_time_model(model, leads, interactions, *, duration_days, event, landmark=7) -> dict
    DealValueModel(quantiles=(0.1, 0.5, 0.9), ...)
        .fit(leads, interactions, deal_value, as_of) -> self
        .predict(leads, interactions, as_of) -> DataFrame [lead_id, deal_value_p10, deal_value_p50, deal_value_p90]
    evaluate_value_model(model, leads, interactions, deal_value, as_of) -> dict
    concordance_index(time, risk, event) -> float          # Harrell's C
    interval_metrics(y, lower, middle, upper) -> dict      # coverage, MAE, ...

Event coding for the survival model: 1 = won (the event of interest),
2 = lost (a *competing* event: a lost lead can no longer convert, so treating
it as censored would overstate every probability), 0 = still open
(right-censored at the end of the data).
"""

from __future__ import annotations

import numpy as np

from .survival import TimeToConvertModel, evaluate_time_model
from .value import DealValueModel, evaluate_value_model

__all__ = [
    "DealValueModel",
    "TimeToConvertModel",
    "concordance_index",
    "evaluate_time_model",
    "evaluate_value_model",
    "interval_metrics",
]


def concordance_index(time, risk, event, *, chunk: int = 2048) -> float:
    """Harrell's C: among comparable pairs, how often the earlier event had the higher risk.

    A pair (i, j) is comparable when i had the event and j was still event-free
    later (``time[j] > time[i]``); ties in risk count one half. Censored leads
    and leads closed by the competing event only serve as the "later" member.
    Vectorised in chunks: O(n²) comparisons but no Python loop over pairs.
    """
    time = np.asarray(time, dtype=float)
    risk = np.asarray(risk, dtype=float)
    event = np.asarray(event).astype(bool)
    cases = np.flatnonzero(event)
    concordant = 0.0
    comparable = 0.0
    for start in range(0, len(cases), chunk):
        i = cases[start : start + chunk]
        later = time[None, :] > time[i][:, None]
        comparable += later.sum()
        concordant += (later & (risk[None, :] < risk[i][:, None])).sum()
        concordant += 0.5 * (later & (risk[None, :] == risk[i][:, None])).sum()
    return float(concordant / comparable) if comparable else float("nan")


def interval_metrics(y, lower, middle, upper) -> dict[str, float]:
    """Coverage of [lower, upper], MAE and median relative error of the middle, mean width."""
    y = np.asarray(y, dtype=float)
    lower, middle, upper = (np.asarray(a, dtype=float) for a in (lower, middle, upper))
    if not len(y):
        return {"n": 0}
    return {
        "n": len(y),
        "coverage": float(np.mean((y >= lower) & (y <= upper))),
        "mae": float(np.mean(np.abs(y - middle))),
        # MAE alone is dominated by the most expensive homes; the relative error reads the same at any price.
        "median_relative_error": float(np.median(np.abs(y - middle) / np.maximum(np.abs(y), 1e-9))),
        "mean_relative_width": float(np.mean((upper - lower) / np.maximum(np.abs(middle), 1e-9))),
        "below": float(np.mean(y < lower)),
        "above": float(np.mean(y > upper)),
    }
