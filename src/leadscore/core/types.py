"""Field types that accept exactly what the OpenAPI schema says.

Pydantic's lax mode turns ``0`` into ``False`` and ``1700000000`` into a date;
a client sending those has a bug, and the schema promises booleans and ISO
8601 strings, so these refuse anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Strict, StringConstraints, ValidatorFunctionWrapHandler, WrapValidator


def _read_iso(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    """Refuse numbers and numeric strings (epoch times); read the common ISO shapes into aware UTC
    here; let pydantic's own parse read anything else, then convert it to UTC.

    One wrap validator, not a before and an after: each is a call from pydantic's Rust core into
    Python, and a scoring request carries a date-time per interaction."""
    if value.__class__ is str and value.isascii():
        with_offset = _COMMON_SHAPES.get(value.encode().translate(_DIGITS))
        if with_offset is not None and (not with_offset or value[-2] <= "5"):  # fromisoformat takes +00:60
            # Parsed here, at about half the cost: pydantic's own parse yields its TzInfo, on
            # which the UTC conversion (astimezone) costs more than the parse; strings of
            # these shapes read alike in both parsers (tests compare them on generated strings).
            # Anything else, and any failure, goes the ordinary way, with pydantic's own errors.
            try:
                parsed = datetime.fromisoformat(value)
                return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
            except (ValueError, OverflowError):
                pass
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-20T18:42:00Z")
    return _to_utc(handler(value))


def _common_shapes() -> dict[bytes, bool]:
    """``YYYY-MM-DD[T ]HH:MM``, optional ``:SS`` and then a fraction of up to 9 digits, then
    ``Z``, ``±HH:MM``, ``±HHMM`` or nothing, with every digit written 0; True where an offset
    ends it. These are the forms ``datetime.fromisoformat`` and pydantic read as the same instant.
    (They disagree elsewhere: ``+02``, ``+00:60`` or ``+02:00:30`` offsets, ``T10``, ``T1000`` or
    ``HH:MM.f`` times, basic and week dates, which fromisoformat takes and pydantic refuses.)
    Why a table: a string's shape is one C-level translate and a lookup, a quarter of the cost of
    the same test as a regular expression."""
    times = ["00:00", "00:00:00"] + [f"00:00:00{mark}{'0' * n}" for mark in ".," for n in range(1, 10)]
    offsets = {"": False, "Z": False, "z": False, "+00:00": True, "-00:00": True, "+0000": True, "-0000": True}
    return {f"0000-00-00{sep}{time}{offset}".encode(): ends for sep in "Tt " for time in times
            for offset, ends in offsets.items()}


_COMMON_SHAPES = _common_shapes()
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")


def _to_utc(value: datetime) -> datetime:
    # Every stored time is UTC; a naive value is taken to be UTC already.
    # 0001-01-01T00:00+01:00 is a valid ISO string but has no UTC equivalent
    # a datetime can hold, so it is refused here rather than failing later
    # inside the database driver.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of representable UTC date-times (years 1-9999)") from None


StrictBoolean = Annotated[bool, Strict()]
StrictInteger = Annotated[int, Strict()]
# Strict floats still take JSON integers (3 is a fine price), but not true/false.
StrictNumber = Annotated[float, Strict()]
IsoDateTime = Annotated[datetime, WrapValidator(_read_iso)]

# Times a model reads (when a lead arrived, when an interaction happened). The features count
# nanoseconds since 1970 in 64 bits and subtract them from "now", which holds for about 292 years
# either way: a year-3000 or year-2 interaction overflowed (POST /v1/score answered 500, and a stored
# one failed its lead's rescoring on every retry). Refused as input instead, with this range.
EARLIEST_EVENT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2150, 1, 1, tzinfo=UTC)  # exclusive
EVENT_RANGE = "between 1900-01-01 and 2149-12-31 (UTC)"


def check_event_time(value: datetime) -> datetime:
    """``value`` (aware) if it lies in the range the models read; ValueError otherwise."""
    if not EARLIEST_EVENT <= value < LATEST_EVENT:
        raise ValueError(f"must be {EVENT_RANGE}")
    return value


def _read_event_time(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    # One wrap validator around _read_iso, not a second one: each is a call from Rust into Python.
    return check_event_time(_read_iso(value, handler))


EventTime = Annotated[datetime, WrapValidator(_read_event_time)]

# A dataset is a namespace of ids (one per source system). Every place that
# accepts one checks the same shape, so a name with a NUL or a control character
# is refused as bad input before it reaches a query (PostgreSQL cannot bind NUL).
DATASET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DatasetName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=DATASET_PATTERN)]
