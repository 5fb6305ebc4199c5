"""Trained model versions and their life cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from leadscore.core.database import Base, utcnow

MODEL_KINDS = ("conversion", "time_to_convert", "deal_value")
MODEL_STATES = ("candidate", "champion", "challenger", "retired", "failed")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("kind", "dataset", "version"),
        CheckConstraint(
            "state IN ('candidate', 'champion', 'challenger', 'retired', 'failed')", name="state"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), default="conversion")
    dataset: Mapped[str] = mapped_column(String(64), default="default")
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="candidate")
    algorithm: Mapped[str] = mapped_column(String(50))
    # Pickled ml artifact; deferred so listing versions does not load megabytes.
    artifact: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    data_start: Mapped[datetime | None]
    data_end: Mapped[datetime | None]
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_valid: Mapped[int] = mapped_column(Integer, default=0)
    n_positive: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[list[Any]] = mapped_column(default=list)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    library_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
