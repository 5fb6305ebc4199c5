"""API shapes for scores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import NotRequired, TypedDict

from leadscore.core.types import DatasetName, EventTime, StrictInteger, StrictNumber
from leadscore.leads.schemas import LeadFields

REASON_EXAMPLE = {"feature": "ix_listing_view_7d", "sentence": "Viewed 14 listings in the last 7 days (+12)",
                  "points": 12.4}


class Reason(BaseModel):
    feature: str = Field(description="The model feature (or rule) behind the reason.")
    sentence: str = Field(description="The reason in plain words, with its points.")
    points: float = Field(description="Contribution to the 0-100 score; base_score plus all points is the score.")


class ScoreRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_id": 17, "probability": 0.42, "score": 42, "grade": "B", "trend": 6, "previous_score": 36,
        "model_version_id": 3, "scored_at": "2026-11-20T18:42:01Z", "base_score": 12.3,
        "top_positive": [REASON_EXAMPLE], "top_negative": [],
    }]})

    lead_id: int
    probability: float = Field(ge=0, le=1, description="Calibrated probability that the lead converts.")
    score: int = Field(ge=0, le=100)
    grade: str = Field(description="A (score ≥ 60), B (≥ 35), C (≥ 15), else D.")
    trend: StrictInteger | None = Field(None, description="Change against the previous different score.")
    previous_score: int | None = None
    model_version_id: int | None = None
    scored_at: datetime
    base_score: StrictNumber | None = Field(None, description="The average lead's score; reasons add up from here.")
    top_positive: list[Reason] = Field(default_factory=list)
    top_negative: list[Reason] = Field(default_factory=list)


class ScoreHistoryItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    scored_at: datetime
    score: int
    grade: str
    probability: float
    delta: int | None
    model_version_id: int | None


# A TypedDict, not a model: a request carries up to 2,000 of these, and validating into plain
# dicts (what the features read) costs about a quarter less than building model instances.
@with_config(ConfigDict(extra="forbid"))
class InteractionInput(TypedDict):
    type: Annotated[str, Field(min_length=1, max_length=50)]
    occurred_at: EventTime
    channel: NotRequired[Annotated[str | None, Field(max_length=50)]]
    direction: NotRequired[Annotated[str | None, Field(pattern="^(inbound|outbound)$")]]
    listing_price: NotRequired[Annotated[StrictNumber | None, Field(ge=0, le=1e10)]]
    listing_postcode: NotRequired[Annotated[str | None, Field(max_length=20)]]
    listing_bedrooms: NotRequired[Annotated[StrictInteger | None, Field(ge=0, le=100)]]


class ScoreRequestLead(LeadFields):
    """A lead to score without storing it: the lead's fields plus its recent interactions."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "ref": "form-123", "intent": "buy", "price_max": 650000, "pre_approved": True, "timeline_months": 2,
        "postcode": "98103", "created_at": "2026-11-20T10:00:00Z",
        "interactions": [{"type": "listing_view", "occurred_at": "2026-11-20T10:05:00Z", "direction": "inbound"}],
    }]})

    ref: str | None = Field(None, max_length=128, description="Echoed back so you can match results.")
    created_at: EventTime | None = None
    interactions: list[InteractionInput] = Field(default_factory=list, max_length=2000)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName = Field("default", description="Whose champion model scores.")
    leads: list[ScoreRequestLead] = Field(min_length=1, max_length=1000)


class StatelessScore(BaseModel):
    ref: str | None
    probability: float
    score: int
    grade: str
    base_score: float
    top_positive: list[Reason]
    top_negative: list[Reason]


class ScoreResponse(BaseModel):
    model_version_id: int
    results: list[StatelessScore]


def as_dict(payload: dict[str, Any]) -> dict[str, Any]:
    return payload
