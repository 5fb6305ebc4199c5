import numpy as np
import pandas as pd
import pytest

from leadscore.ml import LeakageGuard, Rule, RulesModel, TrainingConfig, train_conversion_model
from leadscore.ml.synthetic import make_leads

from .conftest import AS_OF


def leaky(seed=0):
    leads, ix, y, closed = make_leads(800, seed=seed)
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < 0.02
    leads["deal_status"] = np.where((y == 1) ^ flip, "won-ish", "open")  # planted: ~label
    leads["won_segment"] = np.where(y == 1, rng.choice(["pet", "car"], len(y)), None)  # filled only when won
    leads["contract_signed_at"] = closed + pd.Timedelta(days=2)  # written after the outcome
    return leads, ix, y, closed


def test_guard_flags_planted_leaks_and_spares_real_signal():
    leads, _, y, closed = leaky()
    guard = LeakageGuard().fit(leads, y, closed_at=closed)
    checks = {f.column: f.check for f in guard.findings_}
    assert checks.get("deal_status") == "single_feature_auc"
    assert checks.get("won_segment") in {"single_feature_auc", "value_maps_to_label"}
    assert "contract_signed_at" in checks
    assert {"deal_status", "won_segment", "contract_signed_at"} <= set(guard.excluded_)
    for ok in ["source", "pre_approved", "timeline_months", "price_max", "utm_campaign"]:
        assert ok not in checks, ok


def test_guard_override_is_respected_in_training():
    leads, ix, y, closed = leaky(1)
    cfg = TrainingConfig(cv_folds=2, n_estimators=100)
    default = train_conversion_model(leads, y, ix, closed_at=closed, config=cfg)
    assert "deal_status" not in default.feature_names
    assert "leakage" in str(default.metadata["leakage"]) or default.metadata["leakage"]
    kept = train_conversion_model(leads, y, ix, closed_at=closed,
                                  config=TrainingConfig(cv_folds=2, n_estimators=100, leakage_override=["deal_status"]))
    assert "deal_status" in kept.feature_names
    finding = next(f for f in kept.metadata["leakage"] if f["column"] == "deal_status")
    assert finding["excluded"] is False


RULES = """
base = 10
[[rules]]
name = "hot"
field = "pre_approved"
op = "=="
value = true
points = 30
reason = "Pre-approved"

[[rules]]
name = "busy"
field = "ix_total_30d"
op = ">="
value = 3
points = 20
reason = "{value:.0f} interactions this month"

[[rules]]
name = "warm"
field = "source"
op = "in"
value = ["Referral", "open_house"]
points = 15

[[rules]]
name = "no_budget"
field = "price_min"
op = "missing"
points = -20
"""


def test_rules_model_reads_toml_and_scores(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    rules = RulesModel.from_file(path)
    assert rules.base == 10 and [r.name for r in rules.rules] == ["hot", "busy", "warm", "no_budget"]
    leads, ix, y, _ = make_leads(200, seed=4)
    rules.fit(leads, ix, as_of=AS_OF)
    pts = rules.points(leads, ix, as_of=AS_OF)
    np.testing.assert_array_equal(pts[:, 0], np.where(leads["pre_approved"], 30, 0))
    np.testing.assert_array_equal(pts[:, 2], np.where(leads["source"].isin(["referral", "open_house"]), 15, 0))
    np.testing.assert_array_equal(pts[:, 3], np.where(leads["price_min"].isna(), -20, 0))
    total = rules.total(pts)
    assert total.min() >= 0 and total.max() <= 100
    record = rules.record_one(leads.iloc[0].to_dict(), ix[ix["lead_id"] == 1].to_dict("records"), AS_OF)
    np.testing.assert_array_equal(rules.points_one(record), pts[0])


def test_default_rules_ship_with_the_package():
    rules = RulesModel.default()
    assert len(rules.rules) >= 8
    assert any(r.field == "pre_approved" for r in rules.rules)
    with pytest.raises(ValueError):
        Rule("bad", "x", "~=", 1)
