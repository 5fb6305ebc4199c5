"""The generated world (in memory): determinism, realism, consistency."""

from __future__ import annotations

import json
import numpy as np
import pandas as pd

from leadscore.demo.geography import AREA_BY_ZIP
from leadscore.demo.world import build_world
from tests.demo.conftest import END

DAY = np.timedelta64(1, "D")


def test_same_inputs_give_the_same_world(small_world):
    again = build_world(1_500, seed=11, end=END)
    pd.testing.assert_frame_equal(again.truth, small_world.truth)
    pd.testing.assert_frame_equal(again.interactions, small_world.interactions)
    pd.testing.assert_frame_equal(again.leads, small_world.leads)
    pd.testing.assert_frame_equal(again.properties, small_world.properties)


def test_another_seed_gives_another_world(small_world):
    other = build_world(1_500, seed=12, end=END)
    assert not other.truth["p_convert"].equals(small_world.truth["p_convert"])
    assert len(other.interactions) != len(small_world.interactions)
    assert (other.leads["created_at"].to_numpy() != small_world.leads["created_at"].to_numpy()).mean() > 0.9


def test_counts_and_rates_are_realistic(big_world):
    truth = big_world.truth
    closed = truth[truth["outcome"] != "open"]
    rate = (closed["outcome"] == "won").mean()
    assert 0.08 <= rate <= 0.15, rate
    per_lead = len(big_world.interactions) / big_world.n_leads
    assert 15 <= per_lead <= 30, per_lead
    assert 35 <= len(big_world.agents) <= 45 or big_world.n_leads < 50_000
    assert big_world.leads["source"].nunique() == 7
    assert set(big_world.leads["intent"]) == {"buy", "sell", "rent", "invest"}
    span = big_world.leads["created_at"].max() - big_world.leads["created_at"].min()
    assert span >= pd.Timedelta(days=395)


def test_arrivals_have_seasons_and_weekdays(big_world):
    created = pd.to_datetime(big_world.leads["created_at"])
    by_month = created.dt.month.value_counts()
    assert by_month[5] > 1.4 * by_month[12]
    open_house = big_world.leads["source"] == "open_house"
    local = created.dt.tz_localize("UTC").dt.tz_convert("America/Los_Angeles")
    assert (local[open_house].dt.day_of_week >= 5).mean() > 0.85


def test_budgets_fit_the_listings_of_their_zip(big_world):
    leads, props = big_world.leads, big_world.properties
    buyers = leads[(leads["intent"] == "buy") & leads["price_max"].notna() & leads["postcode"].notna()]
    zip_median = props.groupby("postcode")["price"].median()
    ratio = buyers["price_max"].to_numpy() / zip_median.reindex(buyers["postcode"]).to_numpy()
    assert 0.8 <= np.median(ratio) <= 1.4
    assert np.mean((ratio > 0.25) & (ratio < 4)) > 0.97
    renters = leads[(leads["intent"] == "rent") & leads["price_max"].notna()]
    assert 1_000 <= renters["price_max"].median() <= 6_000  # monthly rent


def test_listing_views_are_near_the_lead_in_place_and_price(big_world):
    inter, leads, props = big_world.interactions, big_world.leads, big_world.properties
    views = inter[(inter["type"] == "listing_view")]
    assert (views["prop"] >= 0).all()
    lead_area = leads["true_zip"].map(AREA_BY_ZIP).to_numpy()[views["lead"]]
    assert (props["area"].to_numpy()[views["prop"]] == lead_area).mean() > 0.95
    buyers = (leads["intent"].to_numpy()[views["lead"]] == "buy") & ~np.isnan(leads["price_max"].to_numpy()[views["lead"]])
    ratio = props["price"].to_numpy()[views["prop"][buyers]] / leads["price_max"].to_numpy()[views["lead"][buyers]]
    assert 0.75 <= np.median(ratio) <= 1.25


def test_no_interaction_before_the_lead_or_after_its_outcome(big_world):
    inter, leads, out = big_world.interactions, big_world.leads, big_world.outcomes
    created = leads["created_at"].to_numpy()[inter["lead"]]
    assert (inter["occurred_at"].to_numpy() >= created).all()
    assert (inter["occurred_at"].to_numpy() < np.datetime64(big_world.end.replace(tzinfo=None))).all()
    last = inter.groupby("lead")["occurred_at"].max()
    closed_at = out.set_index("lead")["closed_at"]
    assert (closed_at > last.reindex(closed_at.index)).all()
    # Every lead starts with its enquiry at creation time.
    first = inter.groupby("lead").first()
    assert (first["occurred_at"].to_numpy() == leads["created_at"].to_numpy()).all()
    assert (first["direction"] == "inbound").all()


def test_outcomes_come_after_the_decision_and_within_120_days(big_world):
    truth, out, leads = big_world.truth, big_world.outcomes, big_world.leads
    decision = truth["decision_at"].to_numpy()[out["lead"]]
    assert (out["closed_at"].to_numpy() > decision).all()
    won = out[out["result"] == "won"]
    days = (won["closed_at"].to_numpy() - leads["created_at"].to_numpy()[won["lead"]]) / DAY
    assert days.min() >= 2 and days.max() <= 120
    assert 20 <= np.median(days) <= 90
    assert (won["deal_value"] > 0).all()
    assert out.loc[out["result"] == "lost", "deal_value"].isna().all()


def test_open_leads_are_the_most_recent(big_world):
    truth, leads = big_world.truth, big_world.leads
    end = np.datetime64(big_world.end.replace(tzinfo=None))
    age = (end - leads["created_at"].to_numpy()) / DAY
    is_open = (truth["outcome"] == "open").to_numpy()
    assert age[is_open].max() < 240  # longest: 14 days to decide + 120 active + 75 quiet
    assert is_open[age < 14].mean() > 0.9
    assert is_open[age < 60].mean() > is_open[(age >= 60) & (age < 120)].mean() > is_open[age >= 120].mean()
    assert not is_open[age > 240].any()
    assert set(leads["status"][is_open]) <= {"new", "contacted", "qualified", "showing", "offer"}
    assert set(leads["status"][~is_open]) == {"won", "lost"}


def test_status_matches_the_interactions(big_world):
    inter, leads = big_world.interactions, big_world.leads
    kinds = inter.groupby("lead")["type"].agg(set).reindex(range(len(leads)), fill_value=set())
    outbound = inter[inter["direction"] == "outbound"].groupby("lead").size().reindex(range(len(leads)), fill_value=0)
    status = leads["status"]
    assert all(("showing" in k or "meeting" in k) for k in kinds[status == "showing"])
    assert all(("offer" in k or "form_submit" in k) for k in kinds[status == "offer"])
    assert (outbound[status == "new"] == 0).all()
    assert (outbound[status != "new"] > 0).all()
    won_with_offer = [("offer" in k) for k, i in zip(kinds[status == "won"], leads["intent"][status == "won"], strict=True) if i != "rent"]
    assert all(won_with_offer)


def test_listings_were_listed_before_anyone_saw_them(big_world):
    inter, props = big_world.interactions, big_world.properties
    refs = inter[inter["prop"] >= 0]
    first_seen = refs.groupby("prop")["occurred_at"].min()
    listed = props["listed_at"].to_numpy()[first_seen.index]
    assert (listed <= first_seen.to_numpy()).all()
    assert set(props["listing_status"]) <= {"active", "pending", "sold", "withdrawn"}
    assert props.loc[props["listing_status"] == "sold", "sold_price"].notna().all()


def test_follow_up_actions_and_response_times_are_recorded(big_world):
    inter, truth = big_world.interactions, big_world.truth
    outbound = inter[inter["direction"] == "outbound"]
    actions = outbound["meta"].map(lambda m: json.loads(m).get("action"))
    decided = truth.index[truth["decided"]]
    taken = outbound[actions.isin(truth["action"].unique())]
    assert taken["lead"].nunique() == len(decided)
    assert (taken["agent"] >= 0).all()
    # The first outbound interaction is the first response, at the recorded response time.
    first = outbound.groupby("lead").first()
    assert (first["meta"].map(lambda m: json.loads(m)["action"]) == "first_response").all()
    minutes = (first["occurred_at"].to_numpy() - big_world.leads["created_at"].to_numpy()[first.index]) / np.timedelta64(1, "m")
    expected = truth["response_minutes"].to_numpy()[first.index]
    assert np.abs(minutes - expected).max() < 0.05
    assert np.quantile(expected, 0.1) < 30 and np.quantile(expected, 0.9) > 6 * 60


def test_agents_and_routing(big_world):
    agents, leads, assign = big_world.agents, big_world.leads, big_world.assignments
    assert agents["territories"].map(len).min() >= 5
    assert set(agents["specialties"].explode()) <= {"buy", "sell", "rent", "invest", "luxury", "condo", "first_time_buyer"}
    assert (agents["capacity"] > 0).all()
    assert set(assign["method"]) == {"auto", "manual"}
    assert assign["reason"].str.len().min() > 5
    current = assign.groupby("lead").last()
    assert (current["agent"].to_numpy() == leads["agent"].to_numpy()).all()
    # Auto-routing mostly lands in the agent's territory.
    auto = assign.groupby("lead").first()
    territories = agents["territories"].to_numpy()
    in_territory = [
        pc in territories[a] for pc, a, m in zip(leads["postcode"], auto["agent"], auto["method"], strict=True)
        if m == "auto" and pc is not None
    ]
    assert np.mean(in_territory) > 0.8


PROTECTED = {
    "race", "color", "colour", "religion", "religious", "sex", "gender", "disability", "disabled", "handicap",
    "familial", "family", "children", "pregnant", "pregnancy", "national", "nationality", "origin", "ethnicity",
    "ethnic", "age", "birth", "birthdate", "dob", "marital", "citizenship",
}


def _tokens(name: str) -> set[str]:
    return set(name.lower().replace("-", "_").split("_"))


def test_no_protected_characteristics_anywhere(big_world):
    names: set[str] = set()
    for frame in (big_world.leads, big_world.agents, big_world.properties, big_world.interactions,
                  big_world.truth, big_world.agent_truth, big_world.outcomes, big_world.assignments):
        names |= set(frame.columns)
    for meta in big_world.interactions["meta"].unique():
        names |= set(json.loads(meta))
    assert [n for n in names if _tokens(n) & PROTECTED] == []
    # The one personal trait kept, for routing only: the preferred contact language.
    assert "preferred_language" in big_world.leads.columns
