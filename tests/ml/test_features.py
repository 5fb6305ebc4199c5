import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from leadscore.ml import FeatureBuilder

from .conftest import AS_OF, assert_same

PHRASES = ["cash buyer, asap please call me now", "just looking around for a house in town",
           "want a viewing of the blue house on elm street"]


def messy_leads(rng, n=150):
    """Random leads with every awkward value type the importers may hand over."""
    created = pd.Timestamp("2024-01-01").value + rng.integers(0, 300 * 86_400, n) * 10**9
    return pd.DataFrame({
        "lead_id": np.arange(n),
        "created_at": pd.to_datetime(created),
        "source": rng.choice(["zillow", "web", "Select", None, "referral", " web "], n),
        "price_min": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(1e5, 5e5, n)),
        "price_max": rng.uniform(3e5, 9e5, n),
        "bedrooms": rng.choice([1.0, 2.0, 3.0, np.nan], n),
        "postcode": rng.choice(["10001", "10002", "10003", None], n),
        "pre_approved": rng.choice([True, False], n),
        "timeline_months": rng.choice(["3", "6", "Select", "12"], n),  # numbers as text
        "campaign": [f"c{k}" for k in rng.integers(0, 120, n)],  # high cardinality
        "Do Not Email": rng.choice(["Yes", "No"], n),
        "notes": [None if k % 7 == 0 else f"{rng.choice(PHRASES)} about house number {k}" for k in range(n)],
        "visited_at": pd.to_datetime(created + rng.integers(-5, 90, n) * 86_400 * 10**9),
        "score_ext": rng.normal(size=n),
    })


def messy_interactions(rng, leads, m=3000):
    lead_ids = rng.choice(leads["lead_id"].to_numpy(), m)
    t0 = pd.Timestamp("2024-01-01").value
    return pd.DataFrame({
        "lead_id": lead_ids,
        "occurred_at": pd.to_datetime(t0 + rng.integers(0, 330 * 86_400, m) * 10**9),
        "type": rng.choice(["listing_view", "call", "email_open", "Showing", "weird_type", None], m),
        "channel": rng.choice(["web", "phone", "email", None], m),
        "direction": rng.choice(["inbound", "outbound", None], m),
        "agent_id": rng.choice(["a1", "a2", "a3", None], m),
        "property_id": rng.choice([f"p{k}" for k in range(40)] + [None], m),
        "listing_price": np.where(rng.random(m) < 0.5, rng.uniform(1e5, 1e6, m), np.nan),
        "listing_postcode": rng.choice(["10001", "10002", None], m),
        "listing_bedrooms": rng.choice([1.0, 2.0, 4.0, np.nan], m),
    })


def test_fit_returns_self_and_learned_attributes(rng):
    leads = messy_leads(rng)
    fb = FeatureBuilder()
    with pytest.raises(NotFittedError):
        check_is_fitted(fb)
    assert fb.fit(leads) is fb
    check_is_fitted(fb)
    learned = [k for k in vars(fb) if not k.startswith("_") and k not in fb.get_params()]
    assert learned and all(k.endswith("_") for k in learned)
    assert set(fb.get_params()) == set(FeatureBuilder().get_params())  # __init__ only stored params


def test_batch_and_single_lead_features_are_identical(rng):
    leads = messy_leads(rng)
    ix = messy_interactions(rng, leads)
    y = rng.integers(0, 2, len(leads))
    fb = FeatureBuilder(min_category_count=5).fit(leads, ix, y, as_of=AS_OF)
    as_of = pd.Series(pd.to_datetime(pd.Timestamp("2024-03-01").value
                                     + rng.integers(0, 250 * 86_400, len(leads)) * 10**9))
    batch = fb.transform(leads, ix, as_of=as_of).to_numpy()
    assert batch.shape[1] > 40
    for i in range(len(leads)):
        lead = leads.iloc[i].to_dict()
        rows = ix[ix["lead_id"] == lead["lead_id"]].to_dict("records")
        one = fb.transform_one(lead, rows, as_of=as_of.iloc[i])
        assert_same(batch[i], one[0])
    # Many leads as dicts at once, their interactions in any order: the same rows again.
    records = leads.to_dict("records")
    position = {lead_id: i for i, lead_id in enumerate(leads["lead_id"])}
    shuffled = ix.sample(frac=1.0, random_state=3).to_dict("records")
    owners = [position[r["lead_id"]] for r in shuffled]
    assert_same(batch, fb.transform_records(records, shuffled, owners, as_of=as_of))
    assert_same(batch[:0], fb.transform_records([], [], [], as_of=AS_OF))


def test_interaction_fields_left_out_read_as_missing(rng):
    # An API request's interactions carry only the fields sent; a field no interaction has
    # must give the features that the same field sent empty gives, in a batch and alone.
    leads = messy_leads(rng, 60)
    ix = messy_interactions(rng, leads, 900)
    fb = FeatureBuilder().fit(leads, ix, as_of=AS_OF)
    records = leads.to_dict("records")
    position = {lead_id: i for i, lead_id in enumerate(leads["lead_id"])}
    owners = [position[lead_id] for lead_id in ix["lead_id"]]
    kept = ["lead_id", "occurred_at", "type", "direction"]
    sparse = ix[kept].to_dict("records")
    filled = [{**row, **{name: None for name in ix.columns if name not in kept}} for row in sparse]
    some = [{**row, "listing_price": 2e5} if i == 5 else row for i, row in enumerate(sparse)]
    expected = fb.transform_records(records, filled, owners, as_of=AS_OF)
    assert_same(expected, fb.transform_records(records, sparse, owners, as_of=AS_OF))
    lead_rows = [row for row, owner in zip(sparse, owners) if owner == owners[0]]
    assert_same(expected[owners[0]], fb.transform_one(records[owners[0]], lead_rows, as_of=AS_OF)[0])
    # A field one row has is read for every row (the others' as missing).
    with_price = fb.transform_records(records, some, owners, as_of=AS_OF)
    filled[5]["listing_price"] = 2e5
    assert_same(with_price, fb.transform_records(records, filled, owners, as_of=AS_OF))
    assert not np.array_equal(with_price, expected, equal_nan=True)


def test_interactions_at_or_after_as_of_change_nothing(rng):
    leads = messy_leads(rng, 80)
    ix = messy_interactions(rng, leads, 1500)
    fb = FeatureBuilder().fit(leads, ix, as_of=AS_OF)
    before = ix[ix["occurred_at"] < AS_OF]
    base = fb.transform(leads, before, as_of=AS_OF).to_numpy()
    future = messy_interactions(np.random.default_rng(9), leads, 800)
    future["occurred_at"] = AS_OF + pd.to_timedelta(np.random.default_rng(1).integers(0, 50, 800), unit="D")
    assert (future["occurred_at"] >= AS_OF).all() and (future["occurred_at"] == AS_OF).any()
    after = fb.transform(leads, pd.concat([before, future]), as_of=AS_OF).to_numpy()
    assert_same(base, after)
    # and an interaction strictly before as_of does change something
    early = future.head(1).assign(occurred_at=AS_OF - pd.Timedelta(hours=1))
    changed = fb.transform(leads, pd.concat([before, early]), as_of=AS_OF).to_numpy()
    assert not np.array_equal(np.nan_to_num(base, nan=-7), np.nan_to_num(changed, nan=-7))


def test_future_timestamps_in_lead_fields_are_unknown(rng):
    leads = messy_leads(rng, 60)
    fb = FeatureBuilder().fit(leads, as_of=AS_OF)
    X = fb.transform(leads, as_of=AS_OF)
    future = (leads["visited_at"] >= AS_OF).to_numpy()
    assert future.any()
    assert X.loc[future, "visited_at_days_ago"].isna().all()
    assert X.loc[~future, "visited_at_days_ago"].notna().all()


def test_column_roles_na_values_and_descriptions(rng):
    leads = messy_leads(rng)
    ix = messy_interactions(rng, leads)
    fb = FeatureBuilder(min_category_count=5).fit(leads, ix, rng.integers(0, 2, len(leads)), as_of=AS_OF)
    roles = {p.column: p.role for p in fb.column_plans_}
    assert roles["timeline_months"] == "numeric"
    assert roles["campaign"] == "high_cardinality"
    assert roles["Do Not Email"] == "boolean"
    assert roles["notes"] == "text"
    assert roles["visited_at"] == "datetime"
    assert fb.excluded_columns_["lead_id"] == "identifier"
    source_plan = next(p for p in fb.column_plans_ if p.column == "source")
    assert "Select" not in source_plan.categories  # 'Select' means missing
    assert "web" in source_plan.categories and " web " not in source_plan.categories
    assert fb.describe("ix_listing_view_7d", 14) == "Viewed 14 listings in the last 7 days"
    assert fb.describe("pre_approved", 1.0) == "Pre-approved for a mortgage"
    assert fb.describe("price_min", float("nan")) == "No minimum budget given"
    for name in fb.feature_names_:
        assert isinstance(fb.describe(name, 1.0), str)


def test_record_numbers_named_like_ids_are_identifiers_and_quantities_keep_their_role(rng):
    n = 200
    numbers = rng.permutation(np.arange(579_533, 579_533 + 5 * n, 5))
    leads = pd.DataFrame({
        "lead_id": np.arange(n),
        "Lead Number": numbers,  # int64
        "customerId": [str(v) for v in numbers],  # whole numbers written as text
        "Ref No": numbers.astype(float),
        "Lead #": numbers,
        "price": rng.permutation(np.arange(300_000, 300_000 + 1_000 * n, 1_000)),  # unique, but a quantity
        "No of visits": rng.integers(0, 30, n),  # an id word, but counts repeat
        "Reference score": rng.normal(size=n),  # an id word, unique, but not whole numbers
    })
    fb = FeatureBuilder().fit(leads, as_of=AS_OF)
    for column in ("Lead Number", "customerId", "Ref No", "Lead #"):
        assert fb.excluded_columns_[column].startswith("identifier"), column
    roles = {p.column: p.role for p in fb.column_plans_}
    assert roles == {"price": "numeric", "No of visits": "numeric", "Reference score": "numeric"}
    small = FeatureBuilder().fit(leads.head(40), as_of=AS_OF)  # too few rows to call it a record number
    assert "Lead Number" not in small.excluded_columns_


@pytest.mark.parametrize("distinct", [50, 51])
def test_record_numbers_and_text_identifiers_have_the_same_bounds(rng, distinct):
    # 55 rows: with 50 distinct values (over nine in ten) neither rule calls a column an
    # identifier (50 is not more than 50); with 51, both do.
    values = np.concatenate([np.arange(distinct), np.arange(55 - distinct)]) * 7 + 1_000
    leads = pd.DataFrame({"lead_id": np.arange(55), "Lead Number": rng.permutation(values),
                          "Lead code": [f"code {v}" for v in rng.permutation(values)]})
    fb = FeatureBuilder().fit(leads, as_of=AS_OF)
    excluded = {c for c in ("Lead Number", "Lead code") if c in fb.excluded_columns_}
    assert excluded == (set() if distinct == 50 else {"Lead Number", "Lead code"}), fb.excluded_columns_


def test_target_encoding_is_out_of_fold_in_fit_transform(rng):
    leads = messy_leads(rng, 400)
    y = rng.integers(0, 2, len(leads))
    fb = FeatureBuilder()
    oof = fb.fit_transform(leads, y=y, as_of=AS_OF)["campaign_rate"].to_numpy()
    full = fb.transform(leads, as_of=AS_OF)["campaign_rate"].to_numpy()
    assert not np.allclose(oof, full)
    # in-sample encoding of pure noise correlates with y; out-of-fold must not (much)
    assert np.corrcoef(full, y)[0, 1] > np.corrcoef(oof, y)[0, 1] + 0.1


def test_single_lead_features_take_any_value_types_the_api_hands_over(rng):
    """The online path's per-field shortcuts (all-str, all-Timestamp, naive datetimes...) give the batch values."""
    leads = messy_leads(rng, 40)
    ix = messy_interactions(rng, leads, 900)
    ix.loc[rng.random(len(ix)) < 0.05, "type"] = " N/A "
    ix.loc[rng.random(len(ix)) < 0.05, "listing_postcode"] = "Select"
    fb = FeatureBuilder(min_category_count=5).fit(leads, ix, as_of=AS_OF)
    batch = fb.transform(leads, ix, as_of=AS_OF).to_numpy()
    for i in range(len(leads)):
        lead = leads.iloc[i].to_dict()
        rows = ix[ix["lead_id"] == lead["lead_id"]].to_dict("records")  # Timestamps, NaN for missing
        variants = [
            rows,
            [{**r, "occurred_at": r["occurred_at"].to_pydatetime()} for r in rows],  # naive datetimes (the DB)
            [{**r, "occurred_at": r["occurred_at"].tz_localize("UTC").tz_convert("Asia/Tokyo")} for r in rows],
            [{**r, "occurred_at": r["occurred_at"].isoformat(),  # JSON-ish: strings, None, ints
              **{k: None for k, v in r.items() if isinstance(v, float) and v != v},
              "agent_id": None if r["agent_id"] is None or r["agent_id"] != r["agent_id"] else r["agent_id"][1:]}
             for r in rows],
        ]
        for variant in variants[:3]:
            assert_same(batch[i], fb.transform_one(lead, variant, as_of=AS_OF)[0])
        # agent ids as numbers: same distinct counts as the string ids they replace
        assert_same(batch[i], fb.transform_one(lead, [{**r, "agent_id": None if r["agent_id"] is None else int(r["agent_id"])}
                                                      for r in variants[3]], as_of=AS_OF)[0])


def test_row_order_and_equal_timestamps(rng):
    """Many interactions share one timestamp here. Whatever the row order, the batch and one-lead
    paths agree bit for bit; across row orders only float sums over rows at one instant (the mean
    listing price) may differ, in the last bits."""
    leads = messy_leads(rng, 60)
    ix = messy_interactions(rng, leads, 2500)
    ix["occurred_at"] = ix["occurred_at"].dt.floor("7D")  # lots of ties within a lead
    fb = FeatureBuilder(min_category_count=5).fit(leads, ix, as_of=AS_OF)
    base = fb.transform(leads, ix, as_of=AS_OF).to_numpy()
    for seed in range(3):
        shuffled = ix.sample(frac=1.0, random_state=seed)
        batch = fb.transform(leads, shuffled, as_of=AS_OF).to_numpy()
        np.testing.assert_allclose(batch, base, rtol=1e-12, atol=0)
        for i in range(0, len(leads), 5):
            rows = shuffled[shuffled["lead_id"] == leads["lead_id"].iloc[i]].to_dict("records")
            assert_same(batch[i], fb.transform_one(leads.iloc[i].to_dict(), rows, as_of=AS_OF)[0])


def test_interaction_times_convert_exactly_as_to_ns():
    # The one-pass conversion of naive and UTC times (the API's) against the per-value one, either
    # side of 1970 and at microsecond precision; other zones and mixes take the per-value path.
    from datetime import UTC, datetime, timedelta, timezone

    from leadscore.ml.features.interaction_inputs import _time_array
    from leadscore.ml.features.schema import to_ns

    naive = [datetime(1969, 12, 31, 23, 59, 59, 999_999), datetime(1970, 1, 1), datetime(1900, 3, 1, 0, 0, 0, 1),
             datetime(2026, 11, 29, 13, 5, 7, 123_456), datetime(2149, 12, 31, 23, 59, 59, 999_999)]
    aware = [v.replace(tzinfo=UTC) for v in naive]
    shifted = [v.replace(tzinfo=timezone(timedelta(hours=2))) for v in naive]
    for values in (naive, aware, shifted, naive[:2] + aware[2:]):
        assert _time_array(values, frozenset()).tolist() == [to_ns(v) for v in values]
    assert _time_array(aware, frozenset())[3] == 1_795_957_507_123_456_000
