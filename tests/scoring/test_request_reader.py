"""RequestReader reads every POST /v1/score body exactly as ScoreRequest's validation does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from leadscore.scoring.request_reader import RequestReader
from leadscore.scoring.schemas import ScoreRequest

FULL = TypeAdapter(ScoreRequest)
READER = RequestReader()

TIMES = [
    "2026-11-20T10:05:00Z", "2026-11-20T10:05:00+00:00", "2026-11-20T10:05", "2026-11-20T10:05:00.1Z",
    "2026-11-20T10:05:00.123456+00:00", "1900-01-01T00:00", "1900-01-01T00:00:00Z", "2149-12-31T23:59:59.999999Z",
    # Outside the narrow shape: the full schema decides, accepting or refusing.
    "1899-12-31T23:59:59Z", "2150-01-01T00:00Z", "1900-01-01T00:30+01:00", "2149-12-31T23:30-01:00",
    "2026-11-20T10:05:00+02:00", "2026-11-20 10:05", "2026-11-20t10:05z", "2026-11-20T10:05:00.1234567Z",
    "2026-11-20T10:05:00,5Z", "2026-02-30T00:00Z", "2026-13-01T00:00Z", "2026-11-20T24:00Z", "2026-11-20T10:60Z",
    " 2026-11-20T10:05Z", "2026-11-20T10:05Z\n", "２０２６-11-20T10:05Z", "1700000000", "", "2026-11-20",
]


def body(created_at: object = "2026-11-19T09:00:00Z", occurred_at: object = "2026-11-20T10:05:00Z",
         **lead: object) -> bytes:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    interactions = [{"type": "listing_view", "direction": "inbound", "occurred_at": (now - timedelta(hours=i)).isoformat()}
                    for i in range(5)] + [{"type": "showing", "occurred_at": occurred_at}]
    return json.dumps({"dataset": "demo", "leads": [
        {"ref": "a", "intent": "buy", "price_max": 650000, "created_at": created_at, "interactions": interactions, **lead},
        {"ref": "b"},
    ]}).encode()


def outcome(read, payload: bytes):
    try:
        request = read(payload)
    except ValidationError as exc:
        return "refused", exc.errors(include_url=False, include_context=False)
    return "read", request, request.__pydantic_fields_set__, [lead.__pydantic_fields_set__ for lead in request.leads]


def assert_same(payload: bytes) -> None:
    got, want = outcome(READER.read, payload), outcome(FULL.validate_json, payload)
    assert got == want
    if got[0] == "read":
        for lead in got[1].leads:
            times = [lead.created_at] + [i["occurred_at"] for i in lead.interactions]
            assert all(t.tzinfo is UTC for t in times if t is not None)


def test_the_narrow_schema_is_in_use():
    # Both EventTime fields (created_at, occurred_at) are read as strings first; if pydantic ever
    # reused the models' own validators for the copy, this is where it shows.
    assert READER.replaced == 2
    values, _, _ = READER._narrow.validate_json(body())
    lead = values["leads"][0]
    assert isinstance(lead.created_at, str) and isinstance(lead.interactions[-1]["occurred_at"], str)


@pytest.mark.parametrize("time", TIMES)
def test_a_created_at_reads_as_the_full_schema_reads_it(time):
    assert_same(body(created_at=time))


@pytest.mark.parametrize("time", TIMES)
def test_an_occurred_at_reads_as_the_full_schema_reads_it(time):
    assert_same(body(occurred_at=time))


@pytest.mark.parametrize("lead", [
    {"created_at": None}, {"created_at": 1700000000}, {"created_at": True}, {"email": "Not An Email"},
    {"price_min": 700000}, {"postcode": "  98103  "}, {"unknown": 1}, {"attributes": {"beds": 3}},
    {"attributes": {"nested": {"no": 1}}}, {"interactions": []}, {"interactions": [{"type": "x"}]},
    {"interactions": [{"type": "x", "occurred_at": 5}]},
    {"interactions": [{"type": "x", "occurred_at": "2026-11-20T10:05Z", "extra": 1}]},
])
def test_other_fields_read_as_the_full_schema_reads_them(lead):
    assert_same(body(**lead))


@pytest.mark.parametrize("payload", [b"", b"[]", b"{", b'{"leads": []}', b'{"leads": [{}], "dataset": "a b"}',
                                     b'\xef\xbb\xbf{"leads": [{}]}', b'{"leads": [{}], "extra": 1}'])
def test_bodies_the_full_schema_refuses_are_refused_alike(payload):
    with pytest.raises((ValidationError, ValueError)) as want:
        FULL.validate_json(payload)
    with pytest.raises(type(want.value)) as got:
        READER.read(payload)
    assert str(got.value) == str(want.value)


SHAPED = st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,8})?)?"
                       r"(Z|[+-][0-9]{2}:?[0-9]{2})?\Z", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(time=st.one_of(SHAPED, st.text(max_size=40)))
def test_generated_times_read_as_the_full_schema_reads_them(time):
    assert_same(body(occurred_at=time, created_at=time))
