import numpy as np
import pytest

from leadscore.ml import FeatureBuilder, TrainingConfig, protected_reason, train_conversion_model
from leadscore.ml.synthetic import make_leads

PROTECTED = ["race", "religion", "gender", "nationality", "marital_status", "num_children", "Sex",
             "numChildren", "Ethnicity", "preferred_language", "Date of Birth", "first_name", "has_disability",
             "Familial Status"]
ALLOWED = ["source", "postcode", "city", "Middlesex_flag", "page_views", "price_max", "Lead Source", "country",
           "mortgage_type", "Total Time Spent on Website"]


@pytest.mark.parametrize("column", PROTECTED)
def test_protected_columns_are_recognised(column):
    assert protected_reason(column) is not None


@pytest.mark.parametrize("column", ALLOWED)
def test_ordinary_columns_are_allowed(column):
    assert protected_reason(column) is None


def test_feature_builder_drops_protected_columns_with_reason():
    rng = np.random.default_rng(0)
    leads, _, y, _ = make_leads(300, seed=1)
    for col in ["race", "religion", "gender", "nationality", "marital_status", "num_children"]:
        leads[col] = rng.choice(["a", "b", "c"], len(leads))
    leads["num_children"] = rng.integers(0, 4, len(leads))
    fb = FeatureBuilder().fit(leads, y=y)
    for col in ["race", "religion", "gender", "nationality", "marital_status", "num_children"]:
        assert col in fb.excluded_columns_
        assert fb.excluded_columns_[col].startswith("protected characteristic")
        assert not any(name.startswith(col) for name in fb.feature_names_)


def test_nobody_can_override_the_denylist():
    leads, ix, y, closed = make_leads(400, seed=2)
    leads["gender"] = np.where(y == 1, "f", "m")  # perfectly predictive and protected
    cfg = TrainingConfig(leakage_override=["gender"], cv_folds=2, n_estimators=50)
    model = train_conversion_model(leads, y, ix, closed_at=closed, config=cfg)
    assert "gender" in model.metadata["excluded_columns"]
    assert not any("gender" in f for f in model.feature_names)
