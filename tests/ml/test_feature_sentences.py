"""Reason sentences for counts of zero and one read as plain English, batch and one-value alike."""

import math
import pickle

import numpy as np
import pytest

from leadscore.ml.features import FeatureBuilder
from leadscore.ml.features.interaction_inputs import InteractionPlan
from leadscore.ml.features.interactions import interaction_specs
from leadscore.ml.features.schema import ColumnPlan, FeatureSpec
from leadscore.ml.features.tabular import plan_features

from .conftest import AS_OF

FULL_PLAN = InteractionPlan(
    types=["listing_view", "saved_search", "email_open", "email_click", "call", "text", "showing", "open_house",
           "web_visit", "form_submit", "note", "chat"],
    channels=["email", "phone"], has_direction=True, has_agent=True, has_property=True, has_price=True,
    has_listing_postcode=True, has_listing_bedrooms=True)
TABULAR_PLANS = [
    ColumnPlan("bedrooms", "numeric", "Bedrooms wanted"), ColumnPlan("timeline_months", "numeric", "Timeline"),
    ColumnPlan("price_max", "numeric", "Maximum budget"), ColumnPlan("score_x", "numeric", "Score x"),
    ColumnPlan("created_at", "datetime", "Lead creation", with_hour=True),
    ColumnPlan("visited_at", "datetime", "Visited at", with_hour=True),
    ColumnPlan("notes", "text", "Notes", keywords=("cash",)),
    ColumnPlan("campaign", "high_cardinality", "Campaign"),
]
ALL_SPECS = interaction_specs(FULL_PLAN) + [s for p in TABULAR_PLANS for s in plan_features(p)]
SPECS = {s.name: s for s in ALL_SPECS}


@pytest.mark.parametrize(("name", "zero", "one", "many"), [
    ("ix_total_30d", "Had no interactions in the last 30 days", "Had 1 interaction in the last 30 days",
     "Had 3 interactions in the last 30 days"),
    ("ix_total_1d", "Had no interactions in the last day", "Had 1 interaction in the last day",
     "Had 3 interactions in the last day"),
    ("ix_total_all", "Has had no interactions yet", "Had 1 interaction in total", "Had 3 interactions in total"),
    ("ix_inbound_7d", "Did not reach out in the last 7 days", "Reached out once in the last 7 days",
     "Reached out 3 times in the last 7 days"),
    ("ix_outbound_7d", "Was not contacted by agents in the last 7 days",
     "Was contacted once by an agent in the last 7 days", "Was contacted 3 times by agents in the last 7 days"),
    ("ix_listing_view_7d", "Viewed no listings in the last 7 days", "Viewed 1 listing in the last 7 days",
     "Viewed 3 listings in the last 7 days"),
    ("ix_saved_search_30d", "Saved no searches in the last 30 days", "Saved 1 search in the last 30 days",
     "Saved 3 searches in the last 30 days"),
    ("ix_call_7d", "Had no calls in the last 7 days", "Had 1 call in the last 7 days", "Had 3 calls in the last 7 days"),
    ("ix_text_7d", "Exchanged no text messages in the last 7 days", "Exchanged 1 text message in the last 7 days",
     "Exchanged 3 text messages in the last 7 days"),
    ("ix_showing_30d", "Attended no showings in the last 30 days", "Attended 1 showing in the last 30 days",
     "Attended 3 showings in the last 30 days"),
    ("ix_web_visit_7d", "Did not visit the website in the last 7 days", "Visited the website once in the last 7 days",
     "Visited the website 3 times in the last 7 days"),
    ("ix_form_submit_7d", "Submitted no forms in the last 7 days", "Submitted 1 form in the last 7 days",
     "Submitted 3 forms in the last 7 days"),
    ("ix_note_90d", "Has no agent notes in the last 90 days", "Has 1 agent note in the last 90 days",
     "Has 3 agent notes in the last 90 days"),
    ("ix_chat_7d", "Had no 'chat' interactions in the last 7 days", "Had 1 'chat' interaction in the last 7 days",
     "Had 3 'chat' interactions in the last 7 days"),
    ("ix_active_days_7d", "Was not active in the last 7 days", "Was active on 1 day in the last 7 days",
     "Was active on 3 different days in the last 7 days"),
    ("ix_distinct_properties_30d", "Looked at no properties in the last 30 days",
     "Looked at 1 property in the last 30 days", "Looked at 3 different properties in the last 30 days"),
    ("ix_distinct_agents", "Has not dealt with any agent", "Has dealt with 1 agent", "Has dealt with 3 different agents"),
    ("ix_days_since_last", "Last interaction was within the last 12 hours", "Last interaction was 1 day ago",
     "Last interaction was 3 days ago"),
    ("ix_days_since_first", "First interaction was within the last 12 hours", "First interaction was 1 day ago",
     "First interaction was 3 days ago"),
    ("ix_days_since_last_inbound", "Last reached out within the last 12 hours", "Last reached out 1 day ago",
     "Last reached out 3 days ago"),
    ("ix_waiting_hours", "Has not been waiting long for a first response",
     "Has been waiting 1 hour for a first response", "Has been waiting 3 hours for a first response"),
    ("bedrooms", "Wants a studio (no bedrooms)", "Wants 1 bedroom", "Wants 3 bedrooms"),
    ("timeline_months", "Plans to buy right away", "Plans to buy within 1 month", "Plans to buy within 3 months"),
    ("lead_age_days", "Lead was created within the last 12 hours", "Lead was created 1 day ago",
     "Lead was created 3 days ago"),
    ("visited_at_days_ago", "Visited at was within the last 12 hours", "Visited at was 1 day ago",
     "Visited at was 3 days ago"),
    ("notes_words", "Notes has no words", "Notes has 1 word", "Notes has 3 words"),
    ("notes_length", "Notes is empty", "Notes is 1 character long", "Notes is 3 characters long"),
])
def test_zero_one_and_many_read_naturally(name, zero, one, many):
    spec = SPECS[name]
    assert [spec.describe(v) for v in (0.0, 1.0, 3.0)] == [zero, one, many]
    assert spec.describe_many(np.array([0.0, 1.0, 3.0])).tolist() == [zero, one, many]


def test_zero_and_one_follow_the_rounding_of_the_shown_number():
    spec = SPECS["ix_days_since_last"]
    # {value:.0f} rounds half to even: 0.5 shows as 0, 1.5 and 2.5 as 2
    got = {v: spec.describe(v) for v in (0.0, 0.4, 0.5, 0.5000001, 1.0, 1.4999, 1.5, 2.5)}
    assert got == {
        0.0: "Last interaction was within the last 12 hours", 0.4: "Last interaction was within the last 12 hours",
        0.5: "Last interaction was within the last 12 hours", 0.5000001: "Last interaction was 1 day ago",
        1.0: "Last interaction was 1 day ago", 1.4999: "Last interaction was 1 day ago",
        1.5: "Last interaction was 2 days ago", 2.5: "Last interaction was 2 days ago"}
    response = SPECS["ix_first_response_hours"]  # {value:.1f}: 0.04 hours shows as 0.0
    assert response.describe(0.04) == "An agent first responded within 3 minutes"
    assert response.describe(0.06) == "An agent first responded after 0.1 hours"
    assert response.describe(1.0) == "An agent first responded after 1.0 hours"  # no one form: "1.0 hours" reads fine
    assert SPECS["ix_listing_view_7d"].describe(math.nan) == "No interactions yet"
    # a negative value rounding to zero shows as "-0": not a count of zero, the template stays
    assert SPECS["ix_listing_view_7d"].describe(-0.2) == "Viewed -0 listings in the last 7 days"


EDGE_VALUES = np.array([0.0, 0.4, 0.5, 1.0, 1.5, 2.0, np.nan, -0.0, -0.4, -0.5, 0.49999999999999994, 0.5000000000000001,
                        0.04, 0.05, 0.0499999, 0.95, 0.9500001, 1.05, 1.04999, 0.004, 0.005, 0.995, 0.9949999,
                        2.5, 3.5, 1e-300, 5e-324, -5e-324, math.inf, -math.inf, 14.0, 1e17])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_describe_many_matches_describe_around_zero_and_one(spec, rng):
    values = np.concatenate([EDGE_VALUES, rng.uniform(-0.2, 2.7, 4000), rng.uniform(-0.02, 0.03, 1000),
                             rng.integers(0, 4, 2000).astype(float), np.arange(0, 300) / 100])
    if "{dow}" in spec.template:  # a weekday is always finite (describe has no sentence for infinity)
        values = values[~np.isinf(values)]
    assert spec.describe_many(values).tolist() == [spec.describe(v) for v in values.tolist()]


def test_a_spec_without_counted_sentences_is_unchanged():
    spec = FeatureSpec("a", "numeric", "Viewed {value:.0f} listings", "No interactions yet")
    assert spec.describe_many(np.array([0.0, 1.0, np.nan])).tolist() == [
        "Viewed 0 listings", "Viewed 1 listings", "No interactions yet"]
    only_zero = FeatureSpec("a", "numeric", "Viewed {value:.0f} listings", "-", zero_template="Viewed no listings")
    assert only_zero.describe_many(np.array([0.0, 1.0])).tolist() == ["Viewed no listings", "Viewed 1 listings"]
    # a template the counted sentences cannot read a number from keeps its own behaviour
    odd = FeatureSpec("b", "numeric", "Bad spec {value:d}", "-", zero_template="none", one_template="one")
    assert odd.describe(0.0) == "b = 0"
    dow = FeatureSpec("c", "numeric", "Arrived on a {dow}", "-", zero_template="none")
    assert dow.describe(0.0) == "Arrived on a Monday"


def _as_stored_before_counted_sentences(obj) -> bytes:
    """``obj`` pickled as a model artifact written before FeatureSpec had zero/one sentences."""
    obj = pickle.loads(pickle.dumps(obj))
    specs = [obj] if isinstance(obj, FeatureSpec) else obj._all_specs + obj.feature_specs_
    for spec in specs:
        vars(spec).pop("zero_template", None)
        vars(spec).pop("one_template", None)
    data = pickle.dumps(obj)
    assert b"zero_template" not in data and b"one_template" not in data
    return data


def test_an_old_pickled_spec_keeps_its_old_phrasing():
    old = pickle.loads(_as_stored_before_counted_sentences(SPECS["ix_listing_view_7d"]))
    assert "zero_template" not in vars(old) and "one_template" not in vars(old)
    assert old.zero_template == "" and old.one_template == ""
    values = np.array([0.0, 0.4, 0.5, 1.0, 1.5, 2.0, np.nan])
    want = ["Viewed 0 listings in the last 7 days"] * 3 + ["Viewed 1 listings in the last 7 days"] + [
        "Viewed 2 listings in the last 7 days"] * 2 + ["No interactions yet"]
    assert [old.describe(v) for v in values.tolist()] == want
    assert old.describe_many(values).tolist() == want
    assert old == FeatureSpec(old.name, old.kind, old.template, old.missing)


def test_an_old_pickled_feature_builder_still_describes(data):
    leads, ix, y, _ = data
    fb = FeatureBuilder().fit(leads.head(300), ix[ix["lead_id"].isin(leads["lead_id"].head(300))], y[:300],
                              as_of=AS_OF)
    old = pickle.loads(_as_stored_before_counted_sentences(fb))
    for name in old.feature_names_:
        values = np.array([0.0, 0.4, 1.0, 2.0, np.nan])
        assert old.describe_many(name, values).tolist() == [old.describe(name, v) for v in values.tolist()]
    assert old.describe("ix_listing_view_7d", 0.0) == "Viewed 0 listings in the last 7 days"
    assert fb.describe("ix_listing_view_7d", 0.0) == "Viewed no listings in the last 7 days"
