"""Store scores with history, keep the lead's current score, report what changed.

The ML core computes scores; this module records them. A change is
"notable" (worth a ``score.changed`` event) when the grade changed or the
score moved by at least ``min_delta`` points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from leadscore.core.bulk import insert_rows
from leadscore.core.database import utcnow
from leadscore.leads.models import Lead
from leadscore.scoring.models import Score


@dataclass(frozen=True)
class ScoreRecord:
    """What the scorer produced for one lead, in storable form."""

    lead_id: int
    probability: float
    score: int
    grade: str
    reasons: dict[str, Any]


@dataclass(frozen=True)
class ScoreChange:
    lead_id: int
    score: int
    grade: str
    previous_score: int | None
    previous_grade: str | None

    @property
    def delta(self) -> int | None:
        return None if self.previous_score is None else self.score - self.previous_score

    def notable(self, min_delta: int) -> bool:
        return (
            self.previous_score is None
            or self.grade != self.previous_grade
            or abs(self.score - self.previous_score) >= min_delta
        )


def store(
    session: Session,
    records: Sequence[ScoreRecord],
    *,
    model_version_id: int | None,
    shadow: bool = False,
    scored_at: datetime | None = None,
) -> list[ScoreChange]:
    """Append score rows; for champion scores also update each lead's current score.

    A champion score equal to the lead's current one (same score and grade) adds
    no history row, so duplicate or no-op rescoring keeps history meaningful and
    the trend (the last row's delta) intact; the lead's ``scored_at`` still moves.
    """
    if not records:
        return []
    scored_at = scored_at or utcnow()
    ids = [r.lead_id for r in records]
    previous = {
        row.id: (row.current_score, row.current_grade)
        for row in session.execute(select(Lead.id, Lead.current_score, Lead.current_grade).where(Lead.id.in_(ids)))
    }
    rows, changes = [], []
    for record in records:
        before_score, before_grade = previous.get(record.lead_id, (None, None))
        change = ScoreChange(record.lead_id, record.score, record.grade, before_score, before_grade)
        changes.append(change)
        if not shadow and change.delta == 0 and before_grade == record.grade:
            continue
        rows.append(
            {
                "lead_id": record.lead_id,
                "model_version_id": model_version_id,
                "scored_at": scored_at,
                "probability": float(record.probability),
                "score": int(record.score),
                "grade": record.grade,
                "delta": None if shadow else change.delta,
                "reasons": record.reasons,
                "shadow": shadow,
            }
        )
    insert_rows(session, Score.__table__, rows)
    if not shadow:
        session.execute(
            update(Lead),
            [
                {"id": r.lead_id, "current_score": int(r.score), "current_grade": r.grade, "scored_at": scored_at}
                for r in records
            ],
        )
    return changes


def document(*, lead_id: int, probability: float, score: int, grade: str, delta: int | None,
             model_version_id: int | None, scored_at: datetime, reasons: dict[str, Any]) -> dict[str, Any]:
    """The API (and cache) document of a lead's current score: ``ScoreRead``'s shape.

    The one place it is built, for a score just computed and for a stored one, so the
    cached document and the one rebuilt after a cache miss cannot drift apart.
    """
    return {
        "lead_id": lead_id, "probability": probability, "score": score, "grade": grade,
        "trend": delta, "previous_score": None if delta is None else score - delta,
        "model_version_id": model_version_id, "scored_at": scored_at.isoformat(),
        **reasons,
    }


def payload(score: Any) -> dict[str, Any]:
    """``document`` of a stored score (a ``Score`` or a row with its attribute names)."""
    return document(lead_id=score.lead_id, probability=score.probability, score=score.score, grade=score.grade,
                    delta=score.delta, model_version_id=score.model_version_id, scored_at=score.scored_at,
                    reasons=score.reasons)


def current_scores(session: Session, *, limit: int) -> list[Any]:
    """The current (latest champion) score of up to ``limit`` leads, most recently scored first.

    Plain rows with ``Score``'s attribute names (``payload`` takes either): building
    ORM objects was most of the cost of warming the cache.
    """
    latest = _latest()
    columns = [Score.lead_id, Score.probability, Score.score, Score.grade, Score.delta, Score.model_version_id,
               Score.scored_at, Score.reasons]
    return list(session.execute(
        select(*columns).join(latest, latest.c.id == Score.id).where(latest.c.n == 1)
        .order_by(Score.scored_at.desc(), Score.id.desc()).limit(limit)
    ))


def _latest(*where: Any) -> Any:
    """Champion scores (``id``) numbered per lead from the newest (``n`` = 1 is the current one)."""
    return (
        select(Score.id, func.row_number().over(partition_by=Score.lead_id,
                                                order_by=(Score.scored_at.desc(), Score.id.desc())).label("n"))
        .where(Score.shadow.is_(False), *where)
        .subquery()
    )


def current_probabilities(session: Session, lead_ids: Sequence[int]) -> dict[int, float]:
    """The exact probability of each lead's current (latest champion) score; leads without one are absent."""
    latest = _latest(Score.lead_id.in_(list(lead_ids)))
    return {lead_id: float(p) for lead_id, p in session.execute(
        select(Score.lead_id, Score.probability).join(latest, latest.c.id == Score.id).where(latest.c.n == 1))}


def current(session: Session, lead_id: int) -> Score | None:
    return session.scalar(
        select(Score)
        .where(Score.lead_id == lead_id, Score.shadow.is_(False))
        .order_by(Score.scored_at.desc(), Score.id.desc())
        .limit(1)
    )


def history(session: Session, lead_id: int, *, limit: int = 50, include_shadow: bool = False) -> list[Score]:
    query = select(Score).where(Score.lead_id == lead_id)
    if not include_shadow:
        query = query.where(Score.shadow.is_(False))
    return list(session.scalars(query.order_by(Score.scored_at.desc(), Score.id.desc()).limit(limit)))


def notable_changes(changes: Iterable[ScoreChange], min_delta: int) -> list[ScoreChange]:
    return [c for c in changes if c.notable(min_delta)]


def change_event(change: ScoreChange, *, external_id: str | None, dataset: str,
                 reasons: dict[str, Any]) -> dict[str, Any]:
    """The ``score.changed`` event's data, one shape whichever path rescored the lead (a
    subscriber syncing a CRM cannot tell a real-time rescore from a batch or a promotion)."""
    return {
        "lead_id": change.lead_id, "external_id": external_id, "dataset": dataset,
        "score": change.score, "grade": change.grade, "previous_score": change.previous_score,
        "previous_grade": change.previous_grade, "delta": change.delta,
        "top_positive": reasons["top_positive"], "top_negative": reasons["top_negative"],
    }
