from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from leadscore.core.types import IsoDateTime

adapter = TypeAdapter(IsoDateTime)


def test_offsets_are_converted_to_utc():
    assert adapter.validate_python("2026-11-20T19:42:00+01:00") == datetime(2026, 11, 20, 18, 42, tzinfo=UTC)


def test_naive_values_are_taken_as_utc():
    assert adapter.validate_python("2026-11-20T18:42:00").tzinfo is UTC


@pytest.mark.parametrize("value", ["0001-01-01T00:00:08+00:01", "9999-12-31T23:59:00-01:00"])
def test_times_without_a_utc_equivalent_are_refused(value):
    with pytest.raises(ValidationError, match="outside the range"):
        adapter.validate_python(value)


@pytest.mark.parametrize("value", [1700000000, "1700000000"])
def test_epoch_numbers_are_refused(value):
    with pytest.raises(ValidationError, match="ISO 8601"):
        adapter.validate_python(value)
