"""Shapes the web pages read and write: the user as the pages see it, and a saved queue view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadscore.leads.models import INTENTS, LEAD_STATUSES

OPEN_STATUSES = tuple(s for s in LEAD_STATUSES if s not in ("won", "lost"))

# Queue columns a user can switch on or off, in display order, with their headings.
QUEUE_COLUMNS: dict[str, str] = {
    "score": "Score",
    "grade": "Grade",
    "trend": "Trend",
    "expected_value": "Expected value",
    "p_convert": "Converts in 30/60/90 d",
    "timing": "Median days to convert",
    "next_action": "Next action",
    "best_hour": "Best time to contact",
    "reasons": "Why",
    "timeline": "Recent engagement",
    "status": "Status",
    "source": "Source",
    "created": "Arrived",
}
DEFAULT_COLUMNS = ("score", "grade", "trend", "expected_value", "p_convert", "next_action", "best_hour",
                   "reasons", "timeline")
QueueSort = Literal["expected_value", "score", "p_convert_30d", "newest", "oldest"]
SORT_LABELS: dict[str, str] = {
    "expected_value": "Expected value",
    "score": "Score",
    "p_convert_30d": "Chance to convert in 30 days",
    "newest": "Newest first",
    "oldest": "Oldest first",
}
GRADES = ("A", "B", "C", "D")


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in person, detached from the database session."""

    id: int
    email: str
    name: str
    role: str
    agent_id: int | None
    csrf_token: str

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class QueueView(BaseModel):
    """Columns, filters and sort of one user's queue.

    Filters cover pipeline facts only (status, grade, score, source, intent):
    nothing here can select leads by a protected characteristic or a proxy of
    one such as postcode or language (fair housing).
    """

    model_config = ConfigDict(extra="ignore")

    columns: list[str] = Field(default_factory=lambda: list(DEFAULT_COLUMNS))
    status: list[str] = Field(default_factory=lambda: list(OPEN_STATUSES))
    grade: list[str] = Field(default_factory=list)
    min_score: int | None = Field(default=None, ge=0, le=100)
    source: str | None = Field(default=None, max_length=100)
    intent: str | None = None
    sort: QueueSort = "expected_value"
    page_size: int = Field(default=50, ge=10, le=200)

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in QUEUE_COLUMNS]
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(unknown)}; choose from {', '.join(QUEUE_COLUMNS)}")
        # Keep display order stable whatever order the form sent.
        return [c for c in QUEUE_COLUMNS if c in value]

    @field_validator("status")
    @classmethod
    def _status(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in LEAD_STATUSES]
        if unknown:
            raise ValueError(f"unknown status(es) {', '.join(unknown)}; choose from {', '.join(LEAD_STATUSES)}")
        return value or list(OPEN_STATUSES)

    @field_validator("grade")
    @classmethod
    def _grade(cls, value: list[str]) -> list[str]:
        unknown = [g for g in value if g not in GRADES]
        if unknown:
            raise ValueError(f"unknown grade(s) {', '.join(unknown)}; choose from {', '.join(GRADES)}")
        return value

    @field_validator("intent")
    @classmethod
    def _intent(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value not in INTENTS:
            raise ValueError(f"unknown intent {value!r}; choose from {', '.join(INTENTS)}")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None
