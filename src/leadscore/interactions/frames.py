"""Interactions as a DataFrame / list of dicts for the ML core, with listing facts joined."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from leadscore.enrichment.models import Property
from leadscore.interactions.models import Interaction
from leadscore.leads.frames import naive_utc
from leadscore.leads.models import Lead

COLUMNS = (
    "lead_id",
    "occurred_at",
    "type",
    "channel",
    "direction",
    "agent_id",
    "property_id",
    "listing_price",
    "listing_postcode",
    "listing_bedrooms",
)


def _query() -> Select:
    return select(
        Interaction.lead_id,
        Interaction.occurred_at,
        Interaction.type,
        Interaction.channel,
        Interaction.direction,
        Interaction.agent_id,
        Interaction.property_id,
        Property.price,
        Property.postcode,
        Property.bedrooms,
    ).outerjoin(Property, Property.id == Interaction.property_id)


def interactions_frame(
    session: Session,
    *,
    dataset: str,
    lead_ids: Sequence[int] | None = None,
    before: datetime | None = None,
    chunk: int = 20_000,
) -> pd.DataFrame:
    """Interactions of a dataset's leads (optionally only some leads, only before a time)."""
    base = _query().join(Lead, Lead.id == Interaction.lead_id).where(Lead.dataset == dataset)
    if before is not None:
        base = base.where(Interaction.occurred_at < before)
    statements = (
        [base]
        if lead_ids is None
        else [base.where(Interaction.lead_id.in_(lead_ids[i : i + chunk])) for i in range(0, len(lead_ids), chunk)]
    )
    frames = [pd.DataFrame(session.execute(s).all(), columns=list(COLUMNS)) for s in statements]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_localize(None)
    for column in ("listing_price", "listing_bedrooms"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.sort_values(["lead_id", "occurred_at"], kind="stable", ignore_index=True)


def interaction_records(session: Session, lead_id: int) -> list[dict[str, Any]]:
    """One lead's interactions as dicts, oldest first, for single-lead scoring."""
    rows = session.execute(
        _query().where(Interaction.lead_id == lead_id).order_by(Interaction.occurred_at)
    ).all()
    records = []
    for row in rows:
        record = dict(zip(COLUMNS, row, strict=True))
        record["occurred_at"] = naive_utc(record["occurred_at"])
        records.append(record)
    return records
