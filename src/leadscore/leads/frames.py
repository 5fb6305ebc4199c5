"""Leads, outcomes and their attributes as DataFrames / dicts for the ML core.

The ML core takes plain pandas frames with naive-UTC datetimes; this is the
one place that turns stored leads into that shape, for training (many leads)
and for online scoring (one lead), so both see the same columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.integrations.models import AttributeColumn
from leadscore.leads.models import Lead, Outcome

# Fields known before any outcome; status, scores and assignment are not here
# on purpose (status *is* the outcome for closed leads).
FEATURE_FIELDS = (
    "source",
    "channel",
    "intent",
    "property_type",
    "price_min",
    "price_max",
    "bedrooms",
    "postcode",
    "city",
    "latitude",
    "longitude",
    "financing",
    "pre_approved",
    "timeline_months",
    "consent_email",
    "consent_sms",
    "consent_phone",
)


def naive_utc(value: datetime | None) -> datetime | None:
    """The ML core works in naive UTC; stored values are aware UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def attribute_types(session: Session, dataset: str) -> dict[str, str]:
    rows = session.execute(
        select(AttributeColumn.name, AttributeColumn.type).where(
            AttributeColumn.dataset == dataset, AttributeColumn.entity == "lead"
        )
    )
    return dict(rows.all())


def _attribute_column_name(name: str) -> str:
    # An imported column called like a lead field must not shadow that field.
    return f"attributes.{name}" if name in FEATURE_FIELDS or name in ("lead_id", "created_at") else name


def lead_record(lead: Lead, types: dict[str, str] | None = None) -> dict[str, Any]:
    """One lead as the dict the ML core's single-lead path expects."""
    record: dict[str, Any] = {"lead_id": lead.id, "created_at": naive_utc(lead.created_at)}
    for field in FEATURE_FIELDS:
        record[field] = getattr(lead, field)
    for name, value in (lead.attributes or {}).items():
        if types and types.get(name) == "datetime" and isinstance(value, str):
            value = pd.to_datetime(value, errors="coerce", utc=True)
            value = None if pd.isna(value) else value.tz_localize(None).to_pydatetime()
        record[_attribute_column_name(name)] = value
    return record


def leads_frame(
    session: Session,
    *,
    dataset: str,
    lead_ids: Sequence[int] | None = None,
    chunk: int = 20_000,
) -> pd.DataFrame:
    """All (or the given) leads of a dataset, fields plus flattened attributes."""
    columns = [Lead.id, Lead.created_at, Lead.attributes, *(getattr(Lead, f) for f in FEATURE_FIELDS)]
    query = select(*columns).where(Lead.dataset == dataset).order_by(Lead.id)
    frames = []
    id_batches: Iterable[Sequence[int] | None] = (
        [lead_ids[i : i + chunk] for i in range(0, len(lead_ids), chunk)] if lead_ids is not None else [None]
    )
    for ids in id_batches:
        statement = query if ids is None else query.where(Lead.id.in_(ids))
        rows = session.execute(statement).all()
        frames.append(pd.DataFrame(rows, columns=["lead_id", "created_at", "attributes", *FEATURE_FIELDS]))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=["lead_id", "created_at", *FEATURE_FIELDS])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True).dt.tz_localize(None)
    attributes = pd.json_normalize(frame.pop("attributes").tolist(), max_level=0)
    attributes.index = frame.index
    types = attribute_types(session, dataset)
    for name in attributes.columns:
        if types.get(name) == "datetime":
            attributes[name] = pd.to_datetime(attributes[name], errors="coerce", utc=True).dt.tz_localize(None)
    attributes.columns = [_attribute_column_name(c) for c in attributes.columns]
    # Fields a dataset never fills carry no signal; drop them so reports stay readable.
    frame = frame.dropna(axis=1, how="all")
    return pd.concat([frame, attributes], axis=1)


def outcomes_frame(session: Session, *, dataset: str) -> pd.DataFrame:
    """lead_id, created_at, result, won (0/1), closed_at, deal_value, recorded_at for every closed lead."""
    rows = session.execute(
        select(Outcome.lead_id, Lead.created_at, Outcome.result, Outcome.closed_at, Outcome.deal_value,
               Outcome.recorded_at)
        .join(Lead, Lead.id == Outcome.lead_id)
        .where(Lead.dataset == dataset)
        .order_by(Outcome.lead_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["lead_id", "created_at", "result", "closed_at", "deal_value", "recorded_at"])
    for column in ("created_at", "closed_at", "recorded_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    frame["won"] = (frame["result"] == "won").astype(int)
    return frame
