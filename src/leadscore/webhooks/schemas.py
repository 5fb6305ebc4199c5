"""Request and response bodies of the /webhooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
)

from leadscore.core.types import StrictBoolean
from leadscore.webhooks.models import EVENT_TYPES, WebhookDelivery

EventFilter = Literal["*", "score.changed", "lead.created", "model.promoted", "drift.detected", "lead.assigned"]
assert set(EventFilter.__args__) == {"*", *EVENT_TYPES}  # type: ignore[attr-defined]  # one list to keep
DeliveryStatus = Literal["pending", "sending", "succeeded", "failed"]
def _valid_http_url(value: str) -> str:
    # Parse to reject malformed URLs, but store what the user gave: normalising
    # (punycode, a trailing slash) could push it past the column's length.
    TypeAdapter(AnyHttpUrl).validate_python(value)
    # pydantic's URL parser takes some URLs the standard library cannot read (a malformed IPv6
    # host, a port past 65535); delivery reads them with urllib, so they are refused here.
    _ = urlsplit(value).port  # each raises ValueError on what it cannot read
    return value


# The pattern and length are declared in the schema, so clients (and schemathesis) see them.
WebhookUrl = Annotated[
    str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$"), AfterValidator(_valid_http_url)
]

URL_EXAMPLE = "https://crm.example.com/hooks/leadscore"
SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _unique_events(events: list[str]) -> list[str]:
    return ["*"] if "*" in events else sorted(set(events))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": URL_EXAMPLE, "events": ["score.changed", "lead.created"], "description": "CRM sync"}
            ]
        },
    )

    url: WebhookUrl = Field(description="Where events are POSTed; http or https.")
    events: list[EventFilter] = Field(
        min_length=1, max_length=10, description='Event types to receive, or ["*"] for all.'
    )
    description: str | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _unique_events(value)


class WebhookUpdate(BaseModel):
    """Only the fields sent are changed; ``active: true`` re-enables a disabled subscription."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"active": True}, {"events": ["*"], "url": URL_EXAMPLE}]},
    )

    url: WebhookUrl | None = None
    events: list[EventFilter] | None = Field(default=None, min_length=1, max_length=10)
    description: str | None = Field(default=None, max_length=500)
    active: StrictBoolean | None = Field(
        default=None, description="true re-enables (and resets the failure count); false pauses."
    )

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique_events(value)

    def changes(self) -> dict[str, object]:
        """The fields sent, ready for the service (null url/events/active mean unchanged)."""
        sent = self.model_dump(exclude_unset=True)
        changes: dict[str, object] = {}
        if sent.get("url") is not None:
            changes["url"] = str(self.url)
        if sent.get("events") is not None:
            changes["event_types"] = list(self.events or [])
        if "description" in sent:
            changes["description"] = self.description
        if sent.get("active") is not None:
            changes["active"] = self.active
        return changes


class WebhookRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3, "url": URL_EXAMPLE, "description": "CRM sync", "events": ["score.changed"],
                    "active": True, "disabled_reason": None, "disabled_at": None, "consecutive_failures": 0,
                    "created_at": "2026-05-01T09:30:00Z", "updated_at": "2026-05-01T09:30:00Z",
                }
            ]
        },
    )

    id: int
    url: str
    description: str | None
    events: list[str] = Field(validation_alias=AliasChoices("events", "event_types"))
    active: bool
    disabled_reason: str | None = Field(description="Why it was disabled (after repeated failures, or by whom).")
    disabled_at: datetime | None
    consecutive_failures: int = Field(description="Failed attempts since the last success.")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    """The new subscription with its signing secret, shown only now (and on rotation)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3, "url": URL_EXAMPLE, "description": "CRM sync", "events": ["score.changed"],
                    "active": True, "disabled_reason": None, "disabled_at": None, "consecutive_failures": 0,
                    "created_at": "2026-05-01T09:30:00Z", "updated_at": "2026-05-01T09:30:00Z",
                    "secret": SECRET_EXAMPLE,
                }
            ]
        }
    )

    secret: str = Field(description="Standard Webhooks secret for verifying `webhook-signature`.")


class WebhookSecret(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": 3, "secret": SECRET_EXAMPLE, "previous_secret_expires_at": "2026-05-02T09:30:00Z"}]
        }
    )

    id: int
    secret: str = Field(description="The new secret; shown only in this response.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries carry a second signature made with the old secret."
    )


class EventTypes(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"event_types": list(EVENT_TYPES)}]})

    event_types: list[str]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 41, "subscription_id": 3, "event_id": "msg_5f0c7e0e8d6b4a53a1c1d7f0b0f1e2a3",
                    "event_type": "score.changed", "attempt": 2, "manual": False, "status": "failed",
                    "response_status": 503, "response_body": "upstream unavailable", "error": "HTTP 503",
                    "duration_ms": 87, "created_at": "2026-05-01T09:30:05Z",
                    "next_attempt_at": "2026-05-01T09:30:05Z", "attempted_at": "2026-05-01T09:30:05Z",
                }
            ]
        }
    )

    id: int
    subscription_id: int
    event_id: str = Field(description="The event's `webhook-id`, the same on every attempt.")
    event_type: str
    attempt: int = Field(description="1 for the first try; retries and redeliveries count on.")
    manual: bool = Field(description="A manual redelivery or test ping (never retried).")
    status: DeliveryStatus
    response_status: int | None
    response_body: str | None = Field(description="The receiver's answer, cut to 2,048 characters.")
    error: str | None
    duration_ms: int | None
    created_at: datetime
    next_attempt_at: datetime = Field(description="When this attempt is (or was) due.")
    attempted_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryRead:
        return cls(
            id=row.id, subscription_id=row.subscription_id, event_id=row.event.message_id,
            event_type=row.event.type, attempt=row.attempt, manual=row.manual, status=row.status,  # type: ignore[arg-type]
            response_status=row.response_status, response_body=row.response_body, error=row.error,
            duration_ms=row.duration_ms, created_at=row.created_at, next_attempt_at=row.next_attempt_at,
            attempted_at=row.attempted_at,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")
