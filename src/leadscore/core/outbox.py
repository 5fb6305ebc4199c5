"""Transactional outbox: follow-up work written in the same transaction as the data.

A service calls ``enqueue`` inside the caller's transaction; a dispatcher
reads undelivered rows after commit and hands them to the queue. If the
process dies in between, the row is still there and is sent later.

On PostgreSQL the transaction also sends ``NOTIFY leadscore_outbox``, which the
server delivers only if it commits: a worker listening on that channel
dispatches the rows at once, whichever process wrote them (see
``core.dispatcher``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadscore.core.database import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index(None, "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def enqueue(session: Session, topic: str, payload: dict[str, Any]) -> OutboxMessage:
    message = OutboxMessage(topic=topic, payload=payload)
    session.add(message)
    # Tells the unit of work to wake the dispatcher once this transaction commits.
    session.info["outbox_written"] = True
    _notify_on_commit(session)
    return message


NOTIFY_CHANNEL = "leadscore_outbox"


def _notify_on_commit(session: Session) -> None:
    """``NOTIFY`` once per transaction (the server drops it on rollback)."""
    transaction = session.get_transaction()
    if session.info.get("outbox_notified_in") is transaction:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    session.info["outbox_notified_in"] = transaction
