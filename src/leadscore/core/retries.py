"""Background work whose handler failed: retried later through the outbox, then parked.

Why: a RabbitMQ worker requeued a failing message at once, so a message that always
fails (a poison message: say, a lead whose rescoring raises) kept a worker busy with
it forever; the in-process queue logged the failure and the work was lost. Now the
queue that ran it writes the work back to the outbox as a new row, due after a
backoff (``delay``), in a transaction of its own, and only then acknowledges the
message: nothing is lost if the process dies in between (the broker delivers the
message again). After ``task_max_retries`` the row is parked (``failed_at``):
nothing dispatches it until an admin replays it (``leadscore tasks retry``).
``/metrics`` shows how many rows wait for a retry and how many are parked.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.config import Settings
from leadscore.core.database import session_scope, utcnow
from leadscore.core.outbox import OutboxMessage, error_text

log = logging.getLogger(__name__)

# (topic, payload, the failed attempt's retry number, what it raised)
Failure = tuple[str, dict[str, Any], int, BaseException]


def delay(retry: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before retry ``retry`` (1, 2, ...): base * 5**(retry-1), +/- a fifth so that work
    which failed together (a database outage) does not all come back in the same second."""
    return base * 5 ** (retry - 1) * (rng or random).uniform(0.8, 1.2)


def schedule(sessions: sessionmaker[Session], failures: Sequence[Failure], *, settings: Settings,
             now: datetime | None = None) -> int:
    """Write each failed piece of work back to the outbox, due after its backoff, or parked once its
    retries are spent (one transaction; it raises if the database refuses). Returns how many were parked.

    Not through ``outbox.enqueue``: that hands a row to the in-process queue as it commits, and
    these must wait; the dispatchers' sweeps pick them up once due.
    """
    now = now or utcnow()
    parked = 0
    with session_scope(sessions) as session:
        for topic, payload, retry, error in failures:
            row = OutboxMessage(topic=topic, payload=payload, last_error=error_text(error))
            if retry >= settings.task_max_retries:
                row.retry, row.failed_at = retry, now
                parked += 1
                log.error("task %s failed after %d retries; parked as outbox row (leadscore tasks failed): %s",
                          topic, retry, row.last_error)
            else:
                row.retry = retry + 1
                row.available_at = now + timedelta(seconds=delay(row.retry, settings.task_retry_base_seconds))
                log.warning("task %s failed (%s); retry %d of %d at %s", topic, row.last_error, row.retry,
                            settings.task_max_retries, row.available_at.isoformat(timespec="seconds"))
            session.add(row)
    return parked


# Parked rows are never dispatched: asking for that too lets the index on (dispatched_at, id)
# find them among the few undispatched rows, not in the whole outbox.
_PARKED = OutboxMessage.dispatched_at.is_(None) & OutboxMessage.failed_at.is_not(None)


def parked(session: Session, *, limit: int = 100) -> list[OutboxMessage]:
    """Parked rows, oldest first."""
    query = select(OutboxMessage).where(_PARKED).order_by(OutboxMessage.id)
    return list(session.scalars(query.limit(limit)))


def replay(session: Session, ids: Sequence[int] | None = None) -> int:
    """Make parked rows (these, or all) due now, with their retries counted afresh; returns how many."""
    statement = (update(OutboxMessage).where(_PARKED)
                 .values(failed_at=None, available_at=None, retry=0)
                 .execution_options(synchronize_session=False))
    if ids is not None:
        statement = statement.where(OutboxMessage.id.in_(list(ids)))
    return session.execute(statement).rowcount


def queue_counts(session: Session) -> tuple[int, int, int]:
    """(rows to dispatch, those of them waiting for a retry, parked rows): one query over the
    undispatched rows, through the index on (dispatched_at, id)."""
    is_parked = OutboxMessage.failed_at.is_not(None)
    total, stuck, retrying = session.execute(
        select(func.count(), func.sum(case((is_parked, 1), else_=0)),
               func.sum(case((~is_parked & (OutboxMessage.retry > 0), 1), else_=0)))
        .where(OutboxMessage.dispatched_at.is_(None))).one()
    total, stuck, retrying = int(total or 0), int(stuck or 0), int(retrying or 0)
    return total - stuck, retrying, stuck


def counts(session: Session) -> tuple[int, int]:
    """(rows waiting for a retry, parked rows)."""
    _, retrying, stuck = queue_counts(session)
    return retrying, stuck
