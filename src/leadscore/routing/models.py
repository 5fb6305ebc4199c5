"""Who owns a lead, since when, and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint("method IN ('auto', 'manual', 'import')", name="method"),
        Index(None, "lead_id", "assigned_at"),
        Index(None, "agent_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    # NULL while current; set when the lead is reassigned or closed.
    ended_at: Mapped[datetime | None]
    method: Mapped[str] = mapped_column(String(10), default="manual")
    reason: Mapped[str | None] = mapped_column(Text)
    assigned_by: Mapped[str | None] = mapped_column(String(100))
