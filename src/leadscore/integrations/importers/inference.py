"""Guess what an extra column holds, and parse dates in the formats people use.

Types are decided once per column from the sample (the first 10,000 rows),
then every value of that column is converted the same way. A later value
that does not fit is kept as text, never rejected; the column's recorded
type is widened so feature engineering knows it is mixed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Types recorded in AttributeColumn.type.
INTEGER, FLOAT, BOOLEAN, DATETIME, STRING, JSON = "integer", "float", "boolean", "datetime", "string", "json"
ATTRIBUTE_TYPES = (INTEGER, FLOAT, BOOLEAN, DATETIME, STRING, JSON)

# A leading zero (zip codes, account numbers) or more than 15 digits (ids,
# card-like numbers that lose precision as floats) means the value is text.
INTEGER_PATTERN = re.compile(r"[+-]?(?:0|[1-9]\d{0,14})")
DIGITS_PATTERN = re.compile(r"[+-]?\d+")
FLOAT_PATTERN = re.compile(r"[+-]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
TRUE_WORDS = frozenset({"true", "yes"})
FALSE_WORDS = frozenset({"false", "no"})
# Mapped boolean fields (consent, pre-approval) also take 1/0 and y/n.
TRUE_FIELD_WORDS = TRUE_WORDS | {"1", "y", "t"}
FALSE_FIELD_WORDS = FALSE_WORDS | {"0", "n", "f"}

ISO = "iso"
# strptime formats tried after ISO 8601. The ambiguous numeric ones are
# ordered month-first unless --day-first is given; a column whose sample
# has a day above 12 picks the right order by itself.
MONTH_FIRST = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%y", "%m-%d-%Y")
DAY_FIRST = ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%d.%m.%Y %H:%M")
UNAMBIGUOUS = ("%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y.%m.%d", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%b %d %Y", "%d %B %Y", "%B %d, %Y")


def date_formats(day_first: bool = False) -> tuple[str, ...]:
    ambiguous = DAY_FIRST + MONTH_FIRST if day_first else MONTH_FIRST + DAY_FIRST
    return (ISO, *ambiguous, *UNAMBIGUOUS)


def _looks_like_date(text: str) -> bool:
    return 6 <= len(text) <= 40 and any(c.isdigit() for c in text)


def parse_datetime(text: str, fmt: str) -> datetime:
    """Parse with one format; naive results are taken as UTC. Raises ValueError."""
    if fmt == ISO:
        if len(text) < 8 or not text[:4].isdigit():
            raise ValueError(text)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    else:
        value = datetime.strptime(text, fmt)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def has_time(text: str, fmt: str) -> bool:
    if fmt == ISO:
        return "T" in text or ":" in text or "t" in text
    return "%H" in fmt or "%I" in fmt


class DateParser:
    """Parse one column's dates: its inferred format first, then any other."""

    def __init__(self, preferred: str | None, day_first: bool = False) -> None:
        formats = date_formats(day_first)
        self.formats = ((preferred,) if preferred else ()) + tuple(f for f in formats if f != preferred)

    def __call__(self, text: str) -> datetime:
        for fmt in self.formats:
            try:
                return parse_datetime(text, fmt)
            except ValueError:
                continue
        raise ValueError(text)


def parse_bool(value: Any, *, lenient: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in (TRUE_FIELD_WORDS if lenient else TRUE_WORDS):
        return True
    if word in (FALSE_FIELD_WORDS if lenient else FALSE_WORDS):
        return False
    raise ValueError(value)


def widen(old: str, new: str) -> str:
    """The type that holds values of both: integer+float is float, else string."""
    if old == new:
        return old
    if {old, new} == {INTEGER, FLOAT}:
        return FLOAT
    return STRING


@dataclass(frozen=True)
class ColumnType:
    type: str
    date_format: str | None = None


def _kinds(value: Any) -> set[str]:
    """Every type a single value could belong to."""
    if isinstance(value, bool):
        return {BOOLEAN}
    if isinstance(value, int):
        return {INTEGER, FLOAT}
    if isinstance(value, float):
        return {FLOAT} if math.isfinite(value) else {STRING}
    if isinstance(value, dict | list):
        return {JSON}
    text = str(value)
    lowered = text.lower()
    if lowered in TRUE_WORDS or lowered in FALSE_WORDS:
        return {BOOLEAN}
    if INTEGER_PATTERN.fullmatch(text):
        return {INTEGER, FLOAT}
    if DIGITS_PATTERN.fullmatch(text):
        return {STRING}  # leading zeros or too many digits: a code
    if FLOAT_PATTERN.fullmatch(text) and math.isfinite(float(text)):
        return {FLOAT}
    return {DATETIME} if _looks_like_date(text) else {STRING}


def infer_column(values: Iterable[Any], *, day_first: bool = False) -> ColumnType:
    """Infer one column's type from sample values (None values are ignored)."""
    possible: set[str] | None = None
    formats: list[str] | None = None
    for value in values:
        if value is None:
            continue
        kinds = _kinds(value)
        if JSON in kinds:
            return ColumnType(JSON)
        possible = kinds if possible is None else possible & kinds
        if DATETIME in possible:
            text = str(value)
            candidates = formats if formats is not None else list(date_formats(day_first))
            formats = [f for f in candidates if _parses(text, f)]
            if not formats:
                possible.discard(DATETIME)
        if not possible:
            return ColumnType(STRING)
    if not possible:
        return ColumnType(STRING)
    for kind in (BOOLEAN, INTEGER, FLOAT):
        if kind in possible:
            return ColumnType(kind)
    if DATETIME in possible and formats:
        return ColumnType(DATETIME, formats[0])
    return ColumnType(STRING)


def best_date_format(values: Iterable[Any], *, day_first: bool = False) -> str | None:
    """The format that parses the most sample values of a mapped date column."""
    texts = [str(v) for v in values if v is not None][:2000]
    best, best_count = None, 0
    for fmt in date_formats(day_first):
        count = sum(1 for t in texts if _parses(t, fmt))
        if count > best_count:
            best, best_count = fmt, count
        if texts and count == len(texts):
            break
    return best


def _parses(text: str, fmt: str) -> bool:
    try:
        parse_datetime(text, fmt)
    except (ValueError, OverflowError):
        return False
    return True


class AttributeConverter:
    """Turns one column's raw values into typed JSON values, tracking misfits."""

    def __init__(self, column_type: ColumnType) -> None:
        self.type = column_type.type
        self.date_format = column_type.date_format
        # What the stored values really are: starts as inferred, widened on misfits.
        self.stored_type = column_type.type

    def _misfit(self, value: Any) -> Any:
        self.stored_type = widen(self.stored_type, STRING)
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return value if isinstance(value, str) else str(value)

    def __call__(self, value: Any) -> Any:
        kind = self.type
        if kind == STRING:
            return value if isinstance(value, str) else self._misfit(value)
        if kind == JSON:
            return value
        if kind == BOOLEAN:
            try:
                return parse_bool(value, lenient=False)
            except ValueError:
                return self._misfit(value)
        if kind in (INTEGER, FLOAT):
            if isinstance(value, bool):
                return self._misfit(value)
            if isinstance(value, int):
                return value if kind == INTEGER else float(value)
            if isinstance(value, float):
                if not math.isfinite(value):
                    return self._misfit(value)
                self.stored_type = widen(self.stored_type, FLOAT)
                return value
            text = str(value)
            if INTEGER_PATTERN.fullmatch(text):
                return int(text) if kind == INTEGER else float(text)
            if FLOAT_PATTERN.fullmatch(text) and not DIGITS_PATTERN.fullmatch(text):
                number = float(text)
                if math.isfinite(number):
                    self.stored_type = widen(self.stored_type, FLOAT)
                    return number
            return self._misfit(value)
        if kind == DATETIME and isinstance(value, str):
            try:
                parsed = parse_datetime(value, self.date_format or ISO)
            except (ValueError, OverflowError):
                return self._misfit(value)
            if not has_time(value, self.date_format or ISO):
                return parsed.date().isoformat()
            return parsed.isoformat()
        return self._misfit(value)


def converter_for_value(value: Any, *, day_first: bool = False) -> AttributeConverter:
    """For a JSON Lines key first seen after the sample: infer from its first value."""
    return AttributeConverter(infer_column([value], day_first=day_first))
