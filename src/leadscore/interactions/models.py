"""Timestamped events on a lead: views, emails, calls, showings..."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow

# Known types get features of their own; any other string is still accepted.
INTERACTION_TYPES = (
    "web_visit",
    "listing_view",
    "saved_search",
    "favorite",
    "form_submit",
    "email_sent",
    "email_open",
    "email_click",
    "email_reply",
    "call",
    "text",
    "showing",
    "open_house",
    "meeting",
    "offer",
    "note",
)
DIRECTIONS = ("inbound", "outbound")


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("dataset", "external_id"),
        CheckConstraint("direction IS NULL OR direction IN ('inbound', 'outbound')", name="direction"),
        Index(None, "lead_id", "occurred_at"),
        # Dashboard counts by type (funnel, contact without consent) without scanning every row.
        Index(None, "dataset", "type", "lead_id"),
        # The leads an import touched through their interactions (rescoring after an import reads
        # "inserted since" once per 1,000 leads): without it, each step scanned the whole table.
        Index(None, "dataset", "inserted_at", "lead_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64), default="default")
    # Optional natural key: given, re-imports and retried API calls store once.
    external_id: Mapped[str | None] = mapped_column(String(128))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(50))
    occurred_at: Mapped[datetime]
    channel: Mapped[str | None] = mapped_column(String(50))
    direction: Mapped[str | None] = mapped_column(String(10))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    property_id: Mapped[int | None] = mapped_column(ForeignKey("properties.id", ondelete="SET NULL"))
    # "metadata" is reserved by SQLAlchemy's declarative base, hence the attribute name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    inserted_at: Mapped[datetime] = mapped_column(default=utcnow)
