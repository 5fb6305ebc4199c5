import numpy as np
import pandas as pd

from leadscore.ml import drift_report, population_stability_index, realised_performance


def test_psi_near_zero_on_same_distribution_and_large_when_shifted():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=20000)
    assert population_stability_index(ref, rng.normal(size=20000)) < 0.01
    assert population_stability_index(ref, rng.normal(1.0, 1.0, 20000)) > 0.25
    cats = rng.choice(list("abc"), 10000, p=[0.5, 0.3, 0.2])
    assert population_stability_index(cats, rng.choice(list("abc"), 10000, p=[0.5, 0.3, 0.2])) < 0.01
    assert population_stability_index(cats, rng.choice(list("abcd"), 10000, p=[0.1, 0.2, 0.3, 0.4])) > 0.25


def test_drift_report_statuses():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.choice(["x", "y"], 5000), "c": rng.normal(size=5000)})
    cur = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.choice(["x", "y"], 5000, p=[0.9, 0.1]),
                        "c": rng.normal(0.35, 1, 5000)})
    report = drift_report(ref, cur, rng.random(5000), rng.random(5000) ** 2)
    status = {f["feature"]: f["status"] for f in report.features}
    assert status["a"] == "ok" and status["b"] == "drift" and status["c"] in {"warn", "drift"}
    assert report.score["status"] in {"warn", "drift"} and report.status == "drift"
    assert report.to_dict()["status"] == "drift" and "b" in report.drifted


def test_realised_performance_per_period():
    rng = np.random.default_rng(2)
    dates = pd.date_range("2024-01-01", periods=900, freq="D").repeat(2)[:1500]
    p = rng.random(1500)
    y = (rng.random(1500) < p).astype(int)
    perf = realised_performance(p, y, dates)
    assert len(perf) >= 12 and (perf["roc_auc"] > 0.6).all()
    assert (perf["calibration_gap"].abs() < 0.2).all()
