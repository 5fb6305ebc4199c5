"""API shapes for interactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadscore.core.types import EventTime, StrictInteger

EXAMPLE = {
    "lead_id": 17,
    "type": "listing_view",
    "occurred_at": "2026-11-20T18:42:00Z",
    "channel": "web",
    "direction": "inbound",
    "property_id": 311,
    "external_id": "evt-88311",
    "metadata": {"page": "/listing/311", "seconds_on_page": 95},
}


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [EXAMPLE]})

    lead_id: StrictInteger = Field(..., ge=1, le=2**31 - 1, description="The lead this happened to.")
    type: str = Field(
        ..., min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_.-]*$",
        description="listing_view, saved_search, email_open, email_click, call, text, showing, open_house, ... "
        "(any lowercase name is accepted; known types get features of their own).",
    )
    occurred_at: EventTime | None = Field(
        None, description="When it happened (1900 or later); default now. Must not be in the future.")
    channel: str | None = Field(None, max_length=50)
    direction: Literal["inbound", "outbound"] | None = None
    agent_id: StrictInteger | None = Field(None, ge=1, le=2**31 - 1)
    property_id: StrictInteger | None = Field(None, ge=1, le=2**31 - 1)
    external_id: str | None = Field(
        None, min_length=1, max_length=128, description="Your event id; the same id is stored once."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class InteractionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [EXAMPLE]}]})

    items: list[InteractionCreate] = Field(..., min_length=1, max_length=1000)


class InteractionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{**EXAMPLE, "id": 9001}]})

    id: int
    lead_id: int
    type: str
    occurred_at: datetime
    channel: str | None
    direction: str | None
    agent_id: int | None
    property_id: int | None
    external_id: str | None
    metadata: dict[str, Any] = Field(validation_alias="meta")


class BatchResult(BaseModel):
    stored: int = Field(description="New interactions stored.")
    duplicates: int = Field(description="Items whose external_id was already stored (not stored again).")
    ids: list[int] = Field(description="Ids of the interactions, in request order (existing ids for duplicates).")
