"""What the registry's training tests share: a fast training config, a synthetic history loader, a runtime."""

from __future__ import annotations

from datetime import UTC

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from leadscore.core.bulk import insert_rows
from leadscore.core.runtime import Runtime
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.ml import TrainingConfig
from leadscore.ml.synthetic import make_leads

FIELDS = ("source", "intent", "property_type", "price_min", "price_max", "bedrooms", "postcode",
          "pre_approved", "timeline_months", "consent_email")
FAST = TrainingConfig(seed=3, cv_folds=3, n_estimators=200, early_stopping_rounds=20)


def _when(value):
    return None if pd.isna(value) else pd.Timestamp(value).floor("us").to_pydatetime().replace(tzinfo=UTC)


def _clean(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def load_synthetic(session, *, dataset: str, n: int, seed: int) -> None:
    leads, interactions, y, closed = make_leads(n, mean_interactions=6, seed=seed)
    rows = []
    for record, won, closed_at in zip(leads.to_dict("records"), y, closed, strict=True):
        extras = {k: _clean(v) for k, v in record.items() if k not in FIELDS and k not in ("lead_id", "created_at")}
        rows.append({
            "dataset": dataset, "external_id": str(record["lead_id"]),
            "created_at": _when(record["created_at"]),
            "status": "won" if won else "lost", "attributes": {k: v for k, v in extras.items() if v is not None},
            **{f: _clean(record[f]) for f in FIELDS},
        })
    insert_rows(session, Lead.__table__, rows)
    ids = dict(session.execute(select(Lead.external_id, Lead.id).where(Lead.dataset == dataset)).all())
    insert_rows(session, Outcome.__table__, [
        {"lead_id": ids[str(lead_id)], "result": "won" if won else "lost",
         "closed_at": _when(c)}
        for lead_id, won, c in zip(leads["lead_id"], y, closed, strict=True)
    ])
    insert_rows(session, Interaction.__table__, [
        {"dataset": dataset, "lead_id": ids[str(r.lead_id)], "type": r.type, "channel": r.channel,
         "direction": r.direction, "occurred_at": _when(r.occurred_at),
         "meta": {}}
        for r in interactions.itertuples(index=False)
    ])


@pytest.fixture
def runtime(fresh_database):
    runtime = Runtime.open(fresh_database)
    yield runtime
    runtime.close()
