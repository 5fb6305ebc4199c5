"""Checks on the shared real datasets; skipped cleanly when ../shared/data is absent."""

import pandas as pd
import pytest

from leadscore.ml import FeatureBuilder, LeakageGuard

from .conftest import SHARED_DATA

XED = SHARED_DATA / "x_education_leads" / "Leads.csv"


@pytest.mark.skipif(not XED.exists(), reason="shared X Education data not available")
def test_x_education_guard_and_features():
    frame = pd.read_csv(XED)
    y = frame.pop("Converted")
    guard = LeakageGuard().fit(frame, y)
    assert guard.excluded_ == ["Tags"]  # the sales team's post-contact tag
    fb = FeatureBuilder().fit(frame, y=y)
    assert fb.excluded_columns_["Prospect ID"].startswith("identifier")
    assert fb.excluded_columns_["Lead Number"].startswith("identifier")  # a record number, not a quantity
    lead_source = next(p for p in fb.column_plans_ if p.column == "Lead Source")
    assert lead_source.role == "categorical"
    spec = next(p for p in fb.column_plans_ if p.column == "Specialization")
    assert "Select" not in spec.categories
