"""Small helpers shared by the dashboard queries: datasets, time anchors, dialect-neutral date maths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadscore.core.database import utcnow
from leadscore.leads.models import Lead

OPEN_STATUSES = ("new", "contacted", "qualified", "showing", "offer")


def datasets(session: Session) -> list[tuple[str, int]]:
    """Datasets with their lead counts, largest first (the dataset picker)."""
    rows = session.execute(select(Lead.dataset, func.count()).group_by(Lead.dataset).order_by(func.count().desc()))
    return [(r[0], int(r[1])) for r in rows]


def anchor(session: Session, dataset: str) -> datetime:
    """'Now' for windows such as 'the last 90 days': today, or the newest lead when the
    data stops earlier (an import of last year's leads still gets a meaningful window)."""
    newest = session.scalar(select(func.max(Lead.created_at)).where(Lead.dataset == dataset))
    now = utcnow()
    return min(now, newest) if newest is not None else now


def plus_days(session: Session, column: Any, days: int) -> Any:
    """``column + days`` as SQL on either backend (SQLite stores datetimes as text)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.datetime(column, f"+{int(days)} days")
    # An interval built in SQL: a Python timedelta would be bound with the column's
    # (datetime) type and fail.
    return column + func.make_interval(0, 0, 0, int(days))


def minutes_between(session: Session, start: Any, end: Any) -> Any:
    """``end - start`` in minutes as SQL, so thousands of rows come back as plain numbers
    instead of datetimes Python must parse one by one."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 1440.0
    return func.extract("epoch", end - start) / 60.0
