from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadscore.integrations.importers.inference import (
    BOOLEAN,
    DATETIME,
    FLOAT,
    INTEGER,
    STRING,
    AttributeConverter,
    ColumnType,
    DateParser,
    infer_column,
    widen,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", None, "-3"], ColumnType(INTEGER)),
        (["1", "2.5", "3e2"], ColumnType(FLOAT)),
        (["Yes", "no", "TRUE"], ColumnType(BOOLEAN)),
        (["02134", "98103"], ColumnType(STRING)),  # a leading zero is a code, not a number
        (["12345678901234567"], ColumnType(STRING)),  # too long to be a safe integer
        (["1", "yes"], ColumnType(STRING)),
        (["2024-01-31", "2024-02-01T09:30:00"], ColumnType(DATETIME, "iso")),
        (["20141013T000000", "20150102T000000"], ColumnType(DATETIME, "iso")),
        (["31/01/2024", "01/02/2024"], ColumnType(DATETIME, "%d/%m/%Y")),  # day 31 decides the order
        (["01/31/2024", "02/01/2024"], ColumnType(DATETIME, "%m/%d/%Y")),
        (["Mumbai", "02.Medium"], ColumnType(STRING)),
        (["nan-ish", "inf"], ColumnType(STRING)),
        ([None, None], ColumnType(STRING)),
    ],
)
def test_column_types_are_inferred(values, expected):
    assert infer_column(values) == expected


def test_day_first_decides_ambiguous_dates():
    assert infer_column(["03/04/2024"]).date_format == "%m/%d/%Y"
    assert infer_column(["03/04/2024"], day_first=True).date_format == "%d/%m/%Y"


def test_values_are_converted_and_misfits_kept_as_text():
    integers = AttributeConverter(ColumnType(INTEGER))
    assert integers("42") == 42 and integers.stored_type == INTEGER
    assert integers("2.5") == 2.5 and integers.stored_type == FLOAT
    assert integers("007") == "007" and integers.stored_type == STRING
    booleans = AttributeConverter(ColumnType(BOOLEAN))
    assert (booleans("Yes"), booleans("no")) == (True, False)
    assert booleans("maybe") == "maybe" and booleans.stored_type == STRING
    dates = AttributeConverter(ColumnType(DATETIME, "iso"))
    assert dates("2024-01-31") == "2024-01-31"
    assert dates("2024-01-31 09:30:00") == "2024-01-31T09:30:00+00:00"
    assert dates("soon") == "soon" and dates.stored_type == STRING


def test_widening_rules():
    assert widen(INTEGER, FLOAT) == FLOAT
    assert widen(FLOAT, INTEGER) == FLOAT
    assert widen(INTEGER, BOOLEAN) == STRING
    assert widen(DATETIME, DATETIME) == DATETIME


def test_date_parser_falls_back_to_other_formats_and_keeps_utc():
    parse = DateParser("iso")
    assert parse("2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
    assert parse("2024-01-31T10:00:00+02:00") == datetime(2024, 1, 31, 8, tzinfo=UTC)
    assert parse("31 Jan 2024") == datetime(2024, 1, 31, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse("next tuesday")
