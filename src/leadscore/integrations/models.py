"""Records of file imports and the typed columns they brought."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow


class ImportRun(Base):
    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    dataset: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    error_report: Mapped[str | None] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Figures beyond the fixed counts: duplicates, skipped, outcomes won/lost, agents created...
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text)


class AttributeColumn(Base):
    """An extra column an import kept in ``attributes``, with its inferred type.

    Feature engineering reads this to know which attributes are numeric,
    boolean, dates or categories without re-inferring from JSON values.
    """

    __tablename__ = "attribute_columns"
    __table_args__ = (UniqueConstraint("dataset", "entity", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class BulkJob(Base):
    """An uploaded file scored or imported in the background (``/v1/bulk``).

    The row is the job's whole state: a worker that dies mid-way leaves it
    ``running`` with a stale ``heartbeat_at``, and the recovery sweep queues it
    again (imports are idempotent by natural key; scoring rewrites its output).
    """

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        Index(None, "status", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "score", or the import kind: leads, interactions, agents, outcomes, properties.
    kind: Mapped[str] = mapped_column(String(30))
    dataset: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input_path: Mapped[str] = mapped_column(String(500))
    input_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    result_path: Mapped[str | None] = mapped_column(String(500))
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    error_summary: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
