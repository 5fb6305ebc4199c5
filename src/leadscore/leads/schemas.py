"""API shapes for leads: create, update, read, list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from leadscore.core.types import DatasetName, EventTime, StrictBoolean, StrictInteger, StrictNumber

Status = Literal["new", "contacted", "qualified", "showing", "offer", "won", "lost"]
Intent = Literal["buy", "sell", "rent", "invest"]

EXAMPLE = {
    "external_id": "crm-10042",
    "first_name": "Dana",
    "last_name": "Rivera",
    "email": "dana.rivera@example.com",
    "phone": "+1 206 555 0142",
    "source": "website",
    "channel": "web_form",
    "intent": "buy",
    "property_type": "house",
    "price_min": 550000,
    "price_max": 720000,
    "bedrooms": 3,
    "postcode": "98103",
    "city": "Seattle",
    "financing": "mortgage",
    "pre_approved": True,
    "timeline_months": 3,
    "consent_email": True,
    "consent_sms": False,
    "consent_phone": True,
    "attributes": {"utm_campaign": "spring-open-house"},
}


class LeadFields(BaseModel):
    """Fields shared by create and update; every one optional on update."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=100, description="Where the lead came from, e.g. website, zillow, referral.")
    channel: str | None = Field(None, max_length=50)
    status: Status = Field(None, description="Pipeline stage; omit to keep (or start at 'new').")
    intent: Intent | None = None
    property_type: str | None = Field(None, max_length=50)
    price_min: StrictNumber | None = Field(None, ge=0, le=1e10)
    price_max: StrictNumber | None = Field(None, ge=0, le=1e10)
    bedrooms: StrictInteger | None = Field(None, ge=0, le=100)
    address: str | None = Field(None, max_length=255)
    postcode: str | None = Field(None, max_length=20)
    city: str | None = Field(None, max_length=100)
    latitude: StrictNumber | None = Field(None, ge=-90, le=90)
    longitude: StrictNumber | None = Field(None, ge=-180, le=180)
    financing: str | None = Field(None, max_length=30)
    pre_approved: StrictBoolean | None = None
    timeline_months: StrictInteger | None = Field(None, ge=0, le=600)
    consent_email: StrictBoolean = Field(None, description="Omit to keep the current value (false for a new lead).")
    consent_sms: StrictBoolean = Field(None, description="Omit to keep the current value (false for a new lead).")
    consent_phone: StrictBoolean = Field(None, description="Omit to keep the current value (false for a new lead).")
    consent_profiling: StrictBoolean = Field(
        None, description="False opts the lead out of automated scoring and enrichment (GDPR art. 21/22)."
    )
    notes: str | None = Field(None, max_length=10_000)
    attributes: dict[str, Any] | None = Field(None, description="Any other fields, kept as typed JSON.")

    @field_validator("attributes")
    @classmethod
    def _attributes_are_flat(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        for key, item in value.items():
            if not key or len(key) > 200:
                raise ValueError("attribute names must be 1-200 characters")
            if isinstance(item, (dict, list)):
                raise ValueError(f"attribute {key!r} must be a string, number, boolean or null")
        return value

    @model_validator(mode="after")
    def _budget_order(self) -> LeadFields:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min must not exceed price_max")
        return self


class LeadCreate(LeadFields):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [EXAMPLE]})

    external_id: str | None = Field(
        None, min_length=1, max_length=128,
        description="Your system's id; creating the same external_id twice updates that lead (idempotent).",
    )
    dataset: DatasetName = "default"
    created_at: EventTime | None = Field(None, description="When the lead arrived (1900-2149); default now.")


class LeadUpdate(LeadFields):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True,
        json_schema_extra={"examples": [{"status": "contacted", "pre_approved": True}]},
    )


class LeadRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{**EXAMPLE, "id": 17}]})

    id: int
    dataset: str
    external_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    source: str | None
    channel: str | None
    created_at: datetime | None
    status: str
    intent: str | None
    property_type: str | None
    price_min: float | None
    price_max: float | None
    bedrooms: int | None
    address: str | None
    postcode: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    financing: str | None
    pre_approved: bool | None
    timeline_months: int | None
    consent_email: bool
    consent_sms: bool
    consent_phone: bool
    consent_profiling: bool
    attributes: dict[str, Any]
    agent_id: int | None
    current_score: int | None
    current_grade: str | None
    scored_at: datetime | None
    updated_at: datetime


class LeadPage(BaseModel):
    items: list[LeadRead]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page; null at the end.")
