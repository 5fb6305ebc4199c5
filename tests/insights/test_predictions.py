"""lead_predictions rows: open leads only, champions per kind, expected value, single-lead path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from leadscore.core.bulk import insert_rows
from leadscore.insights import predictions
from leadscore.insights.models import LeadPrediction
from leadscore.leads.models import Lead
from leadscore.ml.forecast import DealValueModel
from leadscore.registry import service
from leadscore.registry.artifacts import Artifact


def _register_value_champion(session, dataset: str) -> int:
    rng = np.random.default_rng(0)
    price = np.round(rng.lognormal(13, 0.4, 400), -3)
    frame = pd.DataFrame({"lead_id": np.arange(400), "created_at": pd.Timestamp("2025-01-01"), "price_max": price})
    model = DealValueModel(n_estimators=30).fit(frame, None, price * rng.lognormal(0, 0.1, 400))
    version = service.register(
        session, model=Artifact(model=model), kind="deal_value", dataset=dataset, algorithm="lightgbm-quantile-cqr",
        metrics={"coverage": 0.8}, features=model.feature_names_, params={}, library_versions={},
        data_fingerprint=None, data_start=None, data_end=None, n_train=400, n_valid=0, n_positive=400)
    service.promote(session, version.id, actor="test")
    return version.id


def test_predictions_are_written_for_open_leads_only(session):
    now = datetime(2025, 6, 1, tzinfo=UTC)
    statuses = ["new", "contacted", "won", "lost", "qualified"]
    insert_rows(session, Lead.__table__, [
        {"dataset": "p", "external_id": f"L{i}", "created_at": now - timedelta(days=10), "status": status,
         "price_max": 500_000.0 + i, "current_score": 40, "consent_profiling": i != 4}
        for i, status in enumerate(statuses)
    ])
    ids = dict(session.execute(select(Lead.external_id, Lead.id).where(Lead.dataset == "p")).all())
    # A stale row for a lead that has since been won must go.
    insert_rows(session, LeadPrediction.__table__, [{"lead_id": ids["L2"], "next_action": "call"}])
    version_id = _register_value_champion(session, "p")
    written = predictions.refresh_predictions(session, dataset="p", as_of=now)
    assert written == 2
    rows = {r.lead_id: r for r in session.scalars(select(LeadPrediction))}
    assert set(rows) == {ids["L0"], ids["L1"]}  # won, lost and the lead refusing profiling get none
    row = rows[ids["L0"]]
    assert row.deal_value_p10 <= row.deal_value_p50 <= row.deal_value_p90
    assert row.value_model_version_id == version_id
    assert row.expected_value == pytest.approx(0.40 * row.deal_value_p50)
    # Kinds without a champion stay empty rather than guessed.
    assert row.p_convert_30d is None and row.next_action is None and row.time_model_version_id is None
    single = predictions.refresh_lead(session, ids["L1"], as_of=now, probability=0.5)
    assert single["expected_value"] == pytest.approx(0.5 * single["deal_value_p50"])
    assert single["deal_value_p50"] == pytest.approx(rows[ids["L1"]].deal_value_p50, rel=1e-6)
    assert predictions.refresh_lead(session, ids["L3"], as_of=now) is None


def test_no_champions_writes_nothing(session):
    insert_rows(session, Lead.__table__, [{"dataset": "empty", "external_id": "x", "status": "new"}])
    assert predictions.refresh_predictions(session, dataset="empty") == 0
