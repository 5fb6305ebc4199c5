"""Leads and their outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow

# The pipeline a lead moves through; won/lost are terminal.
LEAD_STATUSES = ("new", "contacted", "qualified", "showing", "offer", "won", "lost")
INTENTS = ("buy", "sell", "rent", "invest")
OUTCOME_RESULTS = ("won", "lost")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IS NULL OR {column} IN ({quoted})"


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        # (dataset, external_id) is the natural key that makes imports idempotent.
        UniqueConstraint("dataset", "external_id"),
        CheckConstraint(_in("status", LEAD_STATUSES), name="status"),
        CheckConstraint(_in("intent", INTENTS), name="intent"),
        Index(None, "dataset", "created_at"),
        Index(None, "current_score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64), default="default")
    external_id: Mapped[str] = mapped_column(String(128))

    # Contact
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))

    # Where it came from
    source: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(50))
    # When the lead arrived; NULL when an import did not say (the import time is
    # not a substitute: it would turn file order into a fake "lead age" feature).
    created_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="new")

    # Property interest
    intent: Mapped[str | None] = mapped_column(String(10))
    property_type: Mapped[str | None] = mapped_column(String(50))
    price_min: Mapped[float | None] = mapped_column(Float)
    price_max: Mapped[float | None] = mapped_column(Float)
    bedrooms: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(255))
    postcode: Mapped[str | None] = mapped_column(String(20), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    financing: Mapped[str | None] = mapped_column(String(30))
    pre_approved: Mapped[bool | None] = mapped_column(Boolean)
    timeline_months: Mapped[int | None] = mapped_column(Integer)

    # Consent travels with the lead: enrichment, contact and routing check it.
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_profiling: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_updated_at: Mapped[datetime | None]

    # Columns an import brought that have no field of their own, typed.
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # Denormalised from assignments and scores for fast queues and sorting.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    current_score: Mapped[int | None] = mapped_column(Integer)
    current_grade: Mapped[str | None] = mapped_column(String(1))
    scored_at: Mapped[datetime | None]

    notes: Mapped[str | None] = mapped_column(Text)
    inserted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Outcome(Base):
    __tablename__ = "outcomes"
    __table_args__ = (CheckConstraint(_in("result", OUTCOME_RESULTS), name="result"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), unique=True)
    result: Mapped[str] = mapped_column(String(10))
    closed_at: Mapped[datetime | None]
    deal_value: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    reason: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
