"""Reading ``POST /v1/score`` bodies on the fast paths, cheaper for the common date-time shape.

Why: ``EventTime`` is a wrap validator, a call from pydantic's Rust core into
Python for every date-time. A scoring request carries one per interaction, and
those calls were two thirds of the cost of validating the benchmark's body
(1 lead, 20 interactions: 51 µs, of which about 34 went to the 21 calls).
``RequestReader`` first tries ``ScoreRequest``'s own core schema with each
``EventTime`` replaced by a string that pydantic's Rust core checks against
one shape: ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` then ``Z``, ``+00:00`` or
nothing (UTC either way), years 1900-2149. ``EventTime`` reads strings of that
shape with ``datetime.fromisoformat`` and accepts them when they are in that
range, so reading them the same way here, in one Python loop over the request,
gives the same values (tests compare). Any body that this narrower schema
refuses, or a date that does not exist (2026-02-30), is validated again by the
full schema, which accepts it or raises its own errors: the answer is always
``ScoreRequest``'s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from leadscore.core.types import EARLIEST_EVENT, LATEST_EVENT, _read_event_time
from leadscore.scoring.schemas import ScoreRequest

# Years 1900-2149 are EventTime's range (core.types.EARLIEST_EVENT, LATEST_EVENT); with a UTC
# offset or none, the year alone decides it. [0-9], not \d: Rust's \d takes any Unicode digit.
COMMON_UTC_TIME = (
    r"^(19[0-9]{2}|20[0-9]{2}|21[0-4][0-9])-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|\+00:00)?$"
)
if (EARLIEST_EVENT, LATEST_EVENT) != (datetime(1900, 1, 1, tzinfo=UTC), datetime(2150, 1, 1, tzinfo=UTC)):
    # Not an assert (python -O drops those): the pattern would admit times EventTime refuses.
    raise RuntimeError("core.types' event range moved: update COMMON_UTC_TIME's years to match")
_TIME_STRING = {"type": "str", "pattern": COMMON_UTC_TIME, "strict": True, "strip_whitespace": False,
                "to_lower": False, "to_upper": False}


def narrowed(schema: Any) -> tuple[Any, int]:
    """A copy of the core ``schema`` with every ``EventTime`` validator replaced by ``_TIME_STRING``,
    and how many were replaced. Only dicts and lists are copied; functions and classes are shared."""
    if isinstance(schema, list):
        copied = [narrowed(item) for item in schema]
        return [item for item, _ in copied], sum(count for _, count in copied)
    if not isinstance(schema, dict):
        return schema, 0
    if schema.get("type") == "function-wrap" and schema.get("function", {}).get("function") is _read_event_time:
        return dict(_TIME_STRING), 1
    result, replaced = {}, 0
    for key, value in schema.items():
        result[key], count = narrowed(value)
        replaced += count
    return result, replaced


_from_iso = datetime.fromisoformat


def _utc(text: str) -> datetime:
    # The pattern admits only Z, +00:00 (both read as UTC) or no offset (taken to be UTC).
    value = _from_iso(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _instance(cls: type, validated: tuple[dict[str, Any], Any, set[str]]) -> Any:
    """The instance pydantic-core's model validator makes of a model-fields result: the class
    without ``__init__``, its dict, extra, fields set and (no) private attributes. (Pydantic's
    ``model_construct`` sets the same, at 4 µs; this is under 1.)"""
    values, extra, fields_set = validated
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_extra__", extra)
    object.__setattr__(instance, "__pydantic_fields_set__", fields_set)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


class RequestReader:
    """``read(body)`` → a ``ScoreRequest``, exactly what ``TypeAdapter(ScoreRequest).validate_json``
    gives; raises what it raises (``ValidationError``, ``ValueError``, ``RecursionError``)."""

    def __init__(self) -> None:
        self._full = TypeAdapter(ScoreRequest)
        model = ScoreRequest.__pydantic_core_schema__
        assert model["type"] == "model" and model["cls"] is ScoreRequest
        fields, self.replaced = narrowed(model["schema"])
        # The model's fields, not the model: pydantic-core reuses a complete model class's own
        # validator for a model schema naming it, which would ignore the narrowed copy. So the
        # fields are validated here (with the model's config) and the instance is made below.
        self._narrow = SchemaValidator(fields, model.get("config"))

    def read(self, body: bytes | str) -> ScoreRequest:
        try:
            request = _instance(ScoreRequest, self._narrow.validate_json(body))
            for lead in request.leads:
                if lead.created_at is not None:
                    # Set as validation sets it (the instance dict); not a validated assignment.
                    lead.__dict__["created_at"] = _utc(lead.created_at)
                for interaction in lead.interactions:  # _utc inlined: a call costs as much as the parse
                    value = _from_iso(interaction["occurred_at"])
                    interaction["occurred_at"] = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            return request
        except (ValueError, ValidationError, RecursionError):
            # Another date-time shape, a date that does not exist, or a body the full schema
            # refuses too: the full schema decides, with its own errors.
            return self._full.validate_json(body)
