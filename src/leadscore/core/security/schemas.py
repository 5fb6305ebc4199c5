"""Request and response shapes of the key-management API (and the problem body)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadscore.core.config import RATE_PATTERN, check_rate_limit
from leadscore.core.security.scopes import Scope

# Printable text only: NUL and control characters break PostgreSQL text and terminals.
PRINTABLE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"

_KEY_EXAMPLE = {
    "id": 7,
    "name": "crm-sync",
    "prefix": "3f9a0c1b2d4e",
    "scopes": ["read", "write"],
    "rate_limit": "600/minute",
    "created_by": "cli",
    "created_at": "2026-05-01T09:30:00Z",
    "last_used_at": "2026-05-02T14:02:11Z",
    "expires_at": None,
    "revoked_at": None,
    "status": "active",
}


class ApiKeyCreate(BaseModel):
    """A key to create. The response holds its secret, shown this once."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "crm-sync", "scopes": ["read", "write"], "rate_limit": "600/minute",
                                         "expires_in_days": 365}]},
    )

    name: str = Field(min_length=1, max_length=100, pattern=PRINTABLE,
                      description="What the key is for; shown in listings.", examples=["crm-sync"])
    scopes: list[Scope] = Field(
        min_length=1, max_length=4,
        description="read; write (implies read); score (stateless scoring only); admin (everything).",
        examples=[["read", "write"]],
    )
    rate_limit: str | None = Field(
        default=None, max_length=50, pattern=RATE_PATTERN,
        description="Per-key rate such as '600/minute' or '10/second'; default LEADSCORE_RATE_LIMIT.",
        examples=["600/minute"],
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Days until the key stops working; none: never.",
                                        examples=[365])

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[Scope]) -> list[Scope]:
        return list(dict.fromkeys(value))

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        return None if value is None else check_rate_limit(value)


class ApiKeyRead(BaseModel):
    """An API key as listed: never its secret or hash."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: int = Field(description="Key id, used to revoke it.")
    name: str
    prefix: str = Field(description="The public part of the key (ls_<prefix>_...), to recognise it.")
    scopes: list[str] = Field(description="Scopes granted when the key was made.")
    rate_limit: str | None = Field(description="Per-key rate; null: the installation default.")
    created_by: str = Field(description="'cli' or 'key:<id>' of the admin key that made it.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated with usage counters, every few seconds.")
    expires_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "revoked", "expired"]


class ApiKeyCreated(ApiKeyRead):
    """The new key with its secret. Store it now: it cannot be shown again."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_KEY_EXAMPLE, "key": "ls_3f9a0c1b2d4e_Q2xWm8eP0vYtR4bK7nJc9sL1dF6hG3aZ5uX0iO2p"}
    ]})

    key: str = Field(description="The full API key. Shown only in this response; only a hash is stored.")


class UsageEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"day": "2026-05-02", "route": "GET /v1/keys/me", "status_class": "2xx", "requests": 42}
    ]})

    day: date = Field(description="UTC day.")
    route: str = Field(description="Method and route template.")
    status_class: Literal["1xx", "2xx", "3xx", "4xx", "5xx"]
    requests: int


class UsageReport(BaseModel):
    """Requests made with one key, per day, route and status class (completed requests)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "key_id": 7, "prefix": "3f9a0c1b2d4e", "name": "crm-sync", "days": 30, "total": 42,
        "entries": [{"day": "2026-05-02", "route": "GET /v1/keys/me", "status_class": "2xx", "requests": 42}],
    }]})

    key_id: int
    prefix: str
    name: str
    days: int = Field(description="How many UTC days back, today included.")
    total: int = Field(description="Sum of requests over the entries.")
    entries: list[UsageEntry]


class FieldError(BaseModel):
    field: str = Field(description="Where the bad value was, e.g. 'body.scopes.0' or 'query.days'.")
    message: str
    type: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, the body of every error (media type application/problem+json)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Unprocessable Content", "status": 422,
        "detail": "invalid request: body.scopes.0: Input should be 'read', 'write', 'score' or 'admin'",
        "instance": "/v1/keys",
        "errors": [{"field": "body.scopes.0", "message": "Input should be 'read', 'write', 'score' or 'admin'",
                    "type": "enum"}],
    }]})

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="Field-level detail for invalid input.")
