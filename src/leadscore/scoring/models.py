"""Scores with their full history; the latest is also copied onto the lead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (Index(None, "lead_id", "scored_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), index=True
    )
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    probability: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(1))
    # Change against the lead's previous score (None for the first).
    delta: Mapped[int | None] = mapped_column(Integer)
    # Top positive and negative reasons: [{"feature", "sentence", "points"}].
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # True for a challenger's shadow score, which is never shown as current.
    shadow: Mapped[bool] = mapped_column(default=False)
