"""Webhook subscriptions, the events sent to them and every delivery attempt.

One ``WebhookEvent`` is stored per emitted event; it fans out to one
``WebhookDelivery`` row per matching subscription and attempt. A row is
``pending`` (scheduled for ``next_attempt_at``), ``sending`` (claimed by a
worker since ``attempted_at``), then ``succeeded`` or ``failed``; a failed
attempt with attempts left schedules the next one as a new pending row, so
the table is the full delivery log and the retry schedule at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadscore.core.database import Base, utcnow
from leadscore.core.sealed import SealedString

# Events a subscription may ask for; "*" means all of them.
EventType = Literal["score.changed", "lead.created", "model.promoted", "drift.detected", "lead.assigned"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# Sent only by "POST /webhooks/{id}/test", whatever the subscription's filter.
TEST_EVENT = "webhook.test"
DELIVERY_STATUSES = ("pending", "sending", "succeeded", "failed")
UNFINISHED = ("pending", "sending")


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    # Event type names, or ["*"] for every type.
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    # Standard Webhooks secret ("whsec_" + base64). It must be readable to sign, so it is
    # sealed (encrypted with the installation's key, core.sealed), not hashed.
    secret: Mapped[str] = mapped_column(SealedString(255))
    # After a rotation the old secret also signs until this time, so receivers
    # can switch without dropping messages.
    previous_secret: Mapped[str | None] = mapped_column(SealedString(255))
    previous_secret_expires_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (Index(None, "dedup_key", "created_at"),)

    # The integer id orders events; message_id is what receivers see (webhook-id).
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set when the event came from an outbox message, to drop a redelivered duplicate.
    dedup_key: Mapped[str | None] = mapped_column(String(128))


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id", "attempt"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'succeeded', 'failed')", name="status"
        ),
        # The delivery log of a subscription, newest first, optionally by status.
        Index(None, "subscription_id", "id"),
        # Ordering guard and sweep: unfinished rows of a subscription by event.
        Index(None, "status", "subscription_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # Manual redeliveries and test pings: one attempt, no retries, no ordering guard.
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a worker claimed the row (start of the HTTP attempt).
    attempted_at: Mapped[datetime | None]
    # When a deliver message was last queued for the row; the sweep re-queues
    # only rows without a recent one.
    queued_at: Mapped[datetime | None]

    event: Mapped[WebhookEvent] = relationship(lazy="joined", innerjoin=True)
