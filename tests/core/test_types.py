from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from leadscore.core.types import EventTime, IsoDateTime

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


# What IsoDateTime was before its fast path: numbers refused, pydantic parses every other string,
# then the value is converted to UTC. The fast path must give the same instant, or the same refusal, on any string.
_reference = TypeAdapter(datetime)


def _by_pydantic(value: str) -> datetime | None:
    if value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return None
    try:
        parsed = _reference.validate_python(value)
    except ValidationError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _by_iso_datetime(value: str) -> datetime | None:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


_digits = st.text("0123456789", min_size=1, max_size=11)
_part = st.one_of(_digits, st.sampled_from(["-", ":", "T", "t", " ", "Z", "z", "+", ".", ",", "W", "UTC", "٣"]))
_offset = st.one_of(st.just(""), st.sampled_from(["Z", "z"]),
                    st.builds(lambda s, h, sep, m: f"{s}{h}{sep}{m}", st.sampled_from("+-"),
                              st.integers(0, 25).map("{:02d}".format), st.sampled_from(["", ":"]),
                              st.one_of(st.just(""), st.integers(0, 61).map("{:02d}".format),
                                        st.just("00:30"))))
_iso_like = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}{s}{frac}{off}",
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.sampled_from("Tt "), st.integers(0, 25),
    st.integers(0, 61), st.one_of(st.just(""), st.integers(0, 61).map(":{:02d}".format)),
    st.one_of(st.just(""), st.builds(lambda sep, f: sep + f, st.sampled_from(".,"), _digits)), _offset,
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_iso_like, st.lists(_part, max_size=12).map("".join)))
def test_every_string_reads_as_pydantic_reads_it(value):
    ours = _by_iso_datetime(value)
    assert ours == _by_pydantic(value)
    assert ours is None or ours.tzinfo is UTC


@pytest.mark.parametrize("value", [
    "2026-11-20T10:00:00+02", "2026-11-20T10:00:00+02:00:30", "2026-11-20T10", "2026-11-20T1000",
    "20261120T100000Z", "2026-W47-5", "2026-11-20T24:00:00Z", "2026-11-20T10:00:00UTC",
])
def test_forms_only_fromisoformat_reads_are_refused(value):
    with pytest.raises(ValidationError):
        adapter.validate_python(value)


def test_the_fast_path_also_serves_json_input():
    assert TypeAdapter(list[IsoDateTime]).validate_json('["2026-11-20T19:42:00.5+01:00", "2026-11-20 18:42"]') == [
        datetime(2026, 11, 20, 18, 42, 0, 500000, tzinfo=UTC), datetime(2026, 11, 20, 18, 42, tzinfo=UTC)]


@pytest.mark.parametrize(("value", "ok"), [
    ("1899-12-31T23:59:59.999999Z", False), ("1900-01-01T00:00:00Z", True), ("1900-01-01T00:30:00+01:00", False),
    ("2149-12-31T23:59:59Z", True), ("2149-12-31T23:30:00-01:00", False), ("0002-01-01T00:00:00Z", False),
    ("3000-01-01", False),
])
def test_event_times_are_those_the_models_can_read(value, ok):
    event_time = TypeAdapter(EventTime)
    if ok:
        assert event_time.validate_python(value) == adapter.validate_python(value)
    else:
        with pytest.raises(ValidationError, match="between 1900-01-01 and 2149-12-31"):
            event_time.validate_python(value)
    with pytest.raises(ValidationError, match="ISO 8601"):  # and what IsoDateTime refuses, as it does
        event_time.validate_python("1700000000")
