"""The fields a file can map onto, and how one cell becomes a valid value.

Specs are read from the model columns (length limits, numeric ranges) so a
value PostgreSQL would refuse is caught per row with a clear reason instead
of failing a whole batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Integer, Numeric, String, Table, Text

from leadscore.core.database import UTCDateTime
from leadscore.core.types import check_event_time
from leadscore.integrations.importers.inference import DateParser, best_date_format, parse_bool

INT_RANGE = (-(2**31), 2**31 - 1)  # PostgreSQL integer
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
LIST_SEPARATORS = re.compile(r"[;|,]")


class FieldError(ValueError):
    """A value that cannot go into its field; the message is the report's reason."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | integer | float | money | boolean | datetime | list | choice | email
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


def specs_from_table(
    table: Table, names: Iterable[str], *, overrides: dict[str, FieldSpec] | None = None
) -> dict[str, FieldSpec]:
    """Field specs for the named columns, from their SQL types."""
    specs: dict[str, FieldSpec] = {}
    for name in names:
        if overrides and name in overrides:
            specs[name] = overrides[name]
            continue
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            specs[name] = FieldSpec(name, "datetime")
        elif isinstance(column_type, Boolean):
            specs[name] = FieldSpec(name, "boolean")
        elif isinstance(column_type, Integer):
            specs[name] = FieldSpec(name, "integer", minimum=INT_RANGE[0], maximum=INT_RANGE[1])
        elif isinstance(column_type, Numeric) and not isinstance(column_type, Float):
            limit = 10 ** ((column_type.precision or 14) - (column_type.scale or 0))
            specs[name] = FieldSpec(name, "money", minimum=-limit, maximum=limit)
        elif isinstance(column_type, Float):
            specs[name] = FieldSpec(name, "float")
        elif isinstance(column_type, Text):
            specs[name] = FieldSpec(name, "text")
        elif isinstance(column_type, String):
            specs[name] = FieldSpec(name, "text", max_length=column_type.length)
        else:
            specs[name] = FieldSpec(name, "list")
    return specs


def _number(value: Any, spec: FieldSpec) -> float:
    if isinstance(value, bool):
        raise FieldError(f"not a number: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).replace("_", "!"))  # float() accepts 1_000; we do not
        except ValueError:
            raise FieldError("not a number") from None
    if not math.isfinite(number):
        raise FieldError("not a finite number")
    if spec.minimum is not None and number < spec.minimum:
        raise FieldError(f"below the minimum {spec.minimum:g}")
    if spec.maximum is not None and number > spec.maximum:
        raise FieldError(f"above the maximum {spec.maximum:g}")
    return number


def make_parser(spec: FieldSpec, sample: Iterable[Any] = (), *, day_first: bool = False) -> Callable[[Any], Any]:
    """A function turning one non-empty cell into the field's value or raising FieldError."""
    kind = spec.kind
    if kind == "text":

        def parse_text(value: Any) -> str:
            text = value if isinstance(value, str) else str(value)
            if spec.max_length and len(text) > spec.max_length:
                raise FieldError(f"longer than {spec.max_length} characters")
            return text

        return parse_text
    if kind == "email":

        def parse_email(value: Any) -> str:
            text = str(value).strip().lower()
            if not EMAIL_PATTERN.fullmatch(text):
                raise FieldError("not an email address")
            if spec.max_length and len(text) > spec.max_length:
                raise FieldError(f"longer than {spec.max_length} characters")
            return text

        return parse_email
    if kind == "choice":
        allowed = {c.lower(): c for c in spec.choices}

        def parse_choice(value: Any) -> str:
            found = allowed.get(str(value).strip().lower())
            if found is None:
                raise FieldError(f"not one of {', '.join(spec.choices)}")
            return found

        return parse_choice
    if kind == "integer":

        def parse_integer(value: Any) -> int:
            number = _number(value, spec)
            if not number.is_integer():
                raise FieldError("not a whole number")
            return int(number)

        return parse_integer
    if kind in ("float", "money"):
        return lambda value: _number(value, spec)
    if kind == "boolean":

        def parse_boolean(value: Any) -> bool:
            try:
                return parse_bool(value, lenient=True)
            except ValueError:
                raise FieldError("not a yes/no value (true/false, yes/no, 1/0)") from None

        return parse_boolean
    if kind == "datetime":
        dates = DateParser(best_date_format(sample, day_first=day_first), day_first)

        def parse_date(value: Any) -> datetime:
            try:
                parsed = dates(str(value))
            except (ValueError, OverflowError):
                raise FieldError("not a date (e.g. 2024-01-31 or 2024-01-31T09:30:00)") from None
            try:
                return check_event_time(parsed)  # the range the models read, as the API's
            except ValueError as exc:
                raise FieldError(str(exc)) from None

        return parse_date
    if kind == "list":

        def parse_list(value: Any) -> list[str]:
            items = value if isinstance(value, list) else LIST_SEPARATORS.split(str(value))
            return [str(item).strip() for item in items if str(item).strip()]

        return parse_list
    raise AssertionError(f"unknown field kind {kind}")


def normalise(name: str) -> str:
    """Column name as a field name: 'Lead Source' -> 'lead_source'."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
