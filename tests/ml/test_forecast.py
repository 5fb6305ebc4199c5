"""Time to convert (competing-risks survival) and deal value intervals, on data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.ml.forecast import (
    DealValueModel,
    TimeToConvertModel,
    concordance_index,
    evaluate_value_model,
    interval_metrics,
)

WIDTH = 15.0
HAZARD = {True: (0.10, 0.05), False: (0.03, 0.05)}  # (won, lost) per 15-day bin, by pre_approved


def _survival_data(n: int, seed: int):
    """Constant per-bin hazards by group; heavy random censoring (leads still open)."""
    rng = np.random.default_rng(seed)
    fast = rng.random(n) < 0.5
    duration, event = np.empty(n), np.zeros(n, dtype=int)
    for i in range(n):
        h_won, h_lost = HAZARD[bool(fast[i])]
        k = 0
        while True:
            u = rng.random()
            if u < h_won + h_lost or k > 40:
                event[i] = 1 if u < h_won else 2
                duration[i] = (k + rng.random()) * WIDTH
                break
            k += 1
    censor = rng.uniform(0, 200, n)
    open_ = censor < duration
    duration = np.where(open_, censor, duration)
    event = np.where(open_, 0, event)
    leads = pd.DataFrame({"lead_id": np.arange(1, n + 1),
                          "created_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
                          "pre_approved": fast, "source": rng.choice(["web", "portal"], n)})
    return leads, duration, event


def _true_cif(fast: bool, bins: int) -> float:
    h_won, h_lost = HAZARD[fast]
    return sum((1 - h_won - h_lost) ** k * h_won for k in range(bins))


def test_survival_recovers_known_hazards_despite_censoring():
    leads, duration, event = _survival_data(5000, seed=1)
    assert (event == 0).mean() > 0.3  # many leads are still open
    model = TimeToConvertModel(landmarks=(0,), n_estimators=80, min_child_samples=50).fit(
        leads, None, duration_days=duration, event=event)
    probe = pd.DataFrame({"lead_id": [1, 2], "created_at": pd.Timestamp("2025-06-01"),
                          "pre_approved": [True, False], "source": "web"})
    predicted = model.predict(probe, None, as_of=probe["created_at"].to_numpy())
    for row, fast in ((0, True), (1, False)):
        for days in (30, 60, 90):
            assert predicted[f"p_convert_{days}d"][row] == pytest.approx(_true_cif(fast, days // 15), abs=0.035)
    # Counting open leads as "not converted" (ignoring censoring) would be far too low for the fast group.
    naive = ((event == 1) & (duration <= 90))[leads["pre_approved"].to_numpy()].mean()
    assert naive < _true_cif(True, 6) - 0.05
    # The median (if converting) is finite and sooner for the group with the higher hazard... or equal.
    assert np.isfinite(predicted["median_days_to_convert"]).all()
    assert predicted["p_convert_90d"][0] > predicted["p_convert_60d"][0] > predicted["p_convert_30d"][0]


def test_concordance_index_on_known_orderings():
    time = np.array([1.0, 2.0, 3.0, 4.0])
    assert concordance_index(time, [4, 3, 2, 1], [1, 1, 1, 1]) == 1.0
    assert concordance_index(time, [1, 2, 3, 4], [1, 1, 1, 1]) == 0.0
    assert concordance_index(time, [1, 1, 1, 1], [1, 1, 1, 1]) == 0.5
    # Censored leads count only as the later member: pairs (0,1), (0,2), (0,3), (2,3) are comparable.
    assert concordance_index(time, [4, 1, 2, 3], [1, 0, 1, 0]) == pytest.approx(3 / 4)


def test_deal_value_interval_covers_about_80_percent():
    rng = np.random.default_rng(0)
    n = 3000
    price = np.round(rng.lognormal(13.2, 0.5, n), -3)
    leads = pd.DataFrame({"lead_id": np.arange(1, n + 1), "created_at": pd.Timestamp("2025-01-01"),
                          "price_max": price, "intent": rng.choice(["buy", "sell"], n)})
    value = price * np.exp(rng.normal(0.0, 0.25, n))
    train, test = np.arange(2000), np.arange(2000, n)
    model = DealValueModel(n_estimators=150).fit(leads.iloc[train], None, value[train])
    report = evaluate_value_model(model, leads.iloc[test], None, value[test])
    assert 0.74 <= report["coverage"] <= 0.86, report
    constant = interval_metrics(value[test], *(np.quantile(value[train], q) * np.ones(len(test)) for q in (.1, .5, .9)))
    assert report["mae"] < 0.6 * constant["mae"]
    predicted = model.predict(leads.iloc[test], None)
    assert (predicted["deal_value_p10"] <= predicted["deal_value_p50"]).all()
    assert (predicted["deal_value_p50"] <= predicted["deal_value_p90"]).all()
