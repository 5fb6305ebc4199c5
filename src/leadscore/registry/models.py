"""Trained model versions and their life cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from leadscore.core.database import Base, utcnow

MODEL_KINDS = ("conversion", "time_to_convert", "deal_value", "next_action")
MODEL_STATES = ("candidate", "champion", "challenger", "retired", "failed")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("kind", "dataset", "version"),
        CheckConstraint(
            "state IN ('candidate', 'champion', 'challenger', 'retired', 'failed')", name="state"
        ),
        # At most one champion per (kind, dataset), enforced by the database.
        Index(
            "uq_model_versions_one_champion",
            "kind",
            "dataset",
            unique=True,
            sqlite_where=text("state = 'champion'"),
            postgresql_where=text("state = 'champion'"),
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


class TrainingJob(Base):
    """One training attempt, kept whether it succeeded or not (the retraining history)."""

    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), default="conversion")
    dataset: Mapped[str] = mapped_column(String(64), default="default")
    # manual, schedule, drift or api: why this run happened.
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    promoted: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DriftEvent(Base):
    """A feature or the score distribution moved past a PSI threshold."""

    __tablename__ = "drift_events"
    __table_args__ = (Index(None, "model_version_id", "detected_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "score" for the score distribution, else a feature name.
    subject: Mapped[str] = mapped_column(String(200))
    psi: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(10))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
