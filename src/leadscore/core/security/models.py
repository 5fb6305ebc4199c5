"""Tables: API keys (hashed, never the secret) and their flushed usage counters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The public part of ``ls_<prefix>_<secret>``: looked up by index, shown in listings.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # HMAC-SHA256(pepper, whole key) as hex; the secret itself is never stored.
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    # e.g. "600/minute"; NULL means the installation default (LEADSCORE_RATE_LIMIT).
    rate_limit: Mapped[str | None] = mapped_column(String(50))
    created_by: Mapped[str] = mapped_column(String(100), default="cli")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiKeyUsage(Base):
    """Requests per key, UTC day, route template and status class, flushed in batches."""

    __tablename__ = "api_key_usage"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # "GET /v1/keys/{key_id}": the route template, never the raw path.
    route: Mapped[str] = mapped_column(String(200), primary_key=True)
    status_class: Mapped[str] = mapped_column(String(3), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
