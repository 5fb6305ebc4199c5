"""Per-lead forecasts and recommendations, refreshed with each score.

Written by the predictive-model scorer (time to convert, deal value, next
best action); read by the dashboard and the API. One row per lead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow

ACTIONS = ("call", "text", "email_listings", "book_showing", "open_house_invite", "nurture_email", "re_engage")


class LeadPrediction(Base):
    __tablename__ = "lead_predictions"

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Time to conversion (survival model): P(convert within N days) and the median.
    p_convert_30d: Mapped[float | None] = mapped_column(Float)
    p_convert_60d: Mapped[float | None] = mapped_column(Float)
    p_convert_90d: Mapped[float | None] = mapped_column(Float)
    median_days_to_convert: Mapped[float | None] = mapped_column(Float)
    # Deal value if won: an 80 % interval and its middle.
    deal_value_p10: Mapped[float | None] = mapped_column(Float)
    deal_value_p50: Mapped[float | None] = mapped_column(Float)
    deal_value_p90: Mapped[float | None] = mapped_column(Float)
    # Probability × expected deal value: what the agent queue sorts by.
    expected_value: Mapped[float | None] = mapped_column(Float, index=True)
    # Next best action and its estimated uplift in conversion probability.
    next_action: Mapped[str | None] = mapped_column(String(30))
    next_action_uplift: Mapped[float | None] = mapped_column(Float)
    best_contact_hour: Mapped[int | None] = mapped_column(Integer)
    time_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    value_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    action_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))


class DashboardSnapshot(Base):
    """The latest precomputed statistics behind a dashboard page, one row per dataset and kind.

    Written by ``insights.tasks`` (the periodic job, after training and after batch
    rescoring), read by the pages, which show "as of ``computed_at``". ``fingerprint``
    records what the data looked like when it was computed, so the job can skip
    work when nothing changed and a page can say when newer data has arrived.
    """

    __tablename__ = "dashboard_snapshots"

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)  # "behaviour" or "admin"
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # how long computing it took
    fingerprint: Mapped[list[Any]] = mapped_column(default=list)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
