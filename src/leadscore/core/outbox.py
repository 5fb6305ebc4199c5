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

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, event, inspect, text
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
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # dispatch attempts (publishing to the queue)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Work whose handler failed comes back as a new row (core.retries): its retry number, not
    # dispatched before ``available_at``, and parked (``failed_at``) once its retries are spent.
    retry: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    available_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


ERROR_LIMIT = 2000  # characters of ``last_error`` kept


def error_text(error: BaseException) -> str:
    """What ``last_error`` records of an exception."""
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


def enqueue(session: Session, topic: str, payload: dict[str, Any]) -> OutboxMessage:
    message = OutboxMessage(topic=topic, payload=payload)
    session.add(message)
    # Tells the unit of work to wake the dispatcher once this transaction commits, and which
    # rows it wrote (a serving process hands them to its in-process queue at once: dispatcher).
    session.info["outbox_written"] = True
    session.info.setdefault(WRITTEN, []).append(message)
    _notify_on_commit(session)
    return message


NOTIFY_CHANNEL = "leadscore_outbox"
WRITTEN = "outbox_messages"  # session.info key: the rows this transaction enqueued


def _notify_on_commit(session: Session) -> None:
    """``NOTIFY`` once per transaction (the server drops it on rollback)."""
    transaction = session.get_transaction()
    if session.info.get("outbox_notified_in") is transaction:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    session.info["outbox_notified_in"] = transaction


HAND_OFF = "outbox_hand_off"  # session.info key (set on the sessionmaker): called with the committed rows


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released; the transaction goes on
        return
    written = session.info.pop(WRITTEN, None)
    hand_off: Callable[[list[OutboxMessage]], None] | None = session.info.get(HAND_OFF)
    if written and hand_off is not None:
        # Rows added in a savepoint that was rolled back are not in the database: not those.
        hand_off([m for m in written if inspect(m).persistent])


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's rows are weeded out at commit
        session.info.pop(WRITTEN, None)
