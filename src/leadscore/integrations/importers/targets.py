"""Pieces shared by the two importers that record outcomes (leads and outcomes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from leadscore.core.database import utcnow
from leadscore.integrations.importers.reader import FileRefused, Source
from leadscore.leads.models import Lead

WON, LOST = "won", "lost"


class TargetRule:
    """Turns a target cell into won, lost or None (still open)."""

    def __init__(self, positive: Iterable[str], negative: Iterable[str]) -> None:
        self.positive = {str(v).strip().casefold() for v in positive}
        self.negative = {str(v).strip().casefold() for v in negative}

    def __call__(self, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip().casefold()
        if text in self.positive:
            return WON
        if not self.negative or text in self.negative:
            return LOST
        return None

    def check_sample(self, source: Source, column: str, option: str, warnings: list[str]) -> None:
        """A --positive value that never occurs would silently make every lead lost."""
        seen = {str(row.values.get(column)).strip().casefold() for row in source.sample} - {"none"}
        shown = ", ".join(sorted(seen)[:10])
        if not self.positive & seen:
            message = f"--positive {'/'.join(sorted(self.positive))} never occurs in column {column!r}"
            if source.sample_is_complete:
                raise FileRefused(f"{message} (its values: {shown}); check {option} and --positive")
            warnings.append(f"{message} in the first {len(source.sample):,} rows")
        missing = self.negative - seen
        if missing and self.negative and source.sample_is_complete:
            warnings.append(f"--negative {', '.join(sorted(missing))} never occurs in column {column!r}")


def set_lead_status(session: Session, statuses: Sequence[tuple[int, str]]) -> None:
    """Closed leads move to won/lost (one executemany statement)."""
    if not statuses:
        return
    table = Lead.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
    )
    now = utcnow()
    session.execute(statement, [{"b_id": i, "b_status": s, "b_now": now} for i, s in statuses])
