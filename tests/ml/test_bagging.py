"""Outer bagging of the GA²M: several bags averaged into one additive model with exact tables."""

import pickle

import numpy as np
import pytest

from leadscore.ml import AdditiveBoostingClassifier, TrainingConfig, train_conversion_model
from leadscore.ml.gam import BAG_ROW_BUDGET, MAX_OUTER_BAGS, average_boosters, outer_bag_count

from .test_model import _interaction_data, _probe_rows


@pytest.mark.parametrize("rows, bags", [(0, 14), (1_200, 14), (9_240, 14), (14_285, 14), (14_286, 13),
                                         (25_000, 8), (30_000, 6),
                                         (50_000, 4), (100_000, 2), (199_999, 1), (200_000, 1),
                                         (10_000_000, 1)])
def test_bag_count_rule_gives_the_documented_counts(rows, bags):
    # documented in gam.py: 14 bags up to 14,285 leads, bags × rows <= 200,000 above, never below 1
    assert (MAX_OUTER_BAGS, BAG_ROW_BUDGET) == (14, 200_000)
    assert outer_bag_count(rows) == bags


def test_bagged_ga2m_is_one_exact_additive_model():
    X, y = _interaction_data()
    m = AdditiveBoostingClassifier(n_estimators=400, max_pairs=2, n_bags=4, max_bin=63).fit(
        X, y, categorical_features=[1])
    assert len(m.bag_iterations_) == 4 and len(set(m.bag_iterations_)) > 1  # each bag stopped on its own rows
    assert m.best_iteration_ == sum(m.bag_iterations_) == m.booster_.current_iteration()
    assert set(m.pairs_) == {(0, 3), (1, 2)}  # screened once on all rows, shared by every bag
    Z = _probe_rows(m, X, np.random.default_rng(7))
    raw = m.booster_.predict(Z, raw_score=True, num_iteration=m.best_iteration_)
    contrib = m.contributions(Z)
    # base value + per-feature contributions == the averaged model's raw score, per row
    np.testing.assert_allclose(m.expected_value_ + contrib.sum(1), raw, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.array([m.contributions_one(z) for z in Z]), contrib)
    np.testing.assert_allclose(m.contributions(X).mean(0), 0, atol=1e-9)
    # one binning for every bag: the union of their thresholds stays within max_bin per feature,
    # so a table lookup costs what it cost with one model
    assert max(len(t.thresholds) for t in m.tables_) < 63
    assert all(p.axis_a.size <= 64 and p.axis_b.size <= 64 for p in m.pair_tables_)
    clone = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(clone.contributions(Z), contrib)


def test_bags_run_side_by_side_with_the_same_result():
    X, y = _interaction_data(n=2000, seed=1)
    kw = dict(n_estimators=200, max_pairs=2, n_bags=3, random_state=4)
    one = AdditiveBoostingClassifier(n_jobs=1, **kw).fit(X, y, categorical_features=[1])
    two = AdditiveBoostingClassifier(n_jobs=2, **kw).fit(X, y, categorical_features=[1])
    assert one.bag_iterations_ == two.bag_iterations_
    np.testing.assert_array_equal(one.contributions(X), two.contributions(X))


def test_average_boosters_is_the_mean_of_the_bags():
    import lightgbm as lgb

    X, y = _interaction_data(n=1500, seed=2)
    params = {"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": 0}
    boosters = [lgb.train(params, lgb.Dataset(X[s::2], y[s::2]), num_boost_round=20 + 10 * s) for s in (0, 1)]
    avg = average_boosters(boosters, [15, 30])
    expected = np.mean([b.predict(X, raw_score=True, num_iteration=n) for b, n in zip(boosters, [15, 30])], axis=0)
    np.testing.assert_allclose(avg.predict(X, raw_score=True), expected, rtol=0, atol=1e-12)
    assert avg.current_iteration() == 45


def test_bagged_with_eval_set_early_stops_every_bag_on_it():
    X, y = _interaction_data(n=3000, seed=3)
    m = AdditiveBoostingClassifier(n_estimators=300, n_bags=2).fit(X[:2400], y[:2400], eval_set=(X[2400:], y[2400:]),
                                                                   categorical_features=[1])
    assert len(m.bag_iterations_) == 2
    raw = m.booster_.predict(X, raw_score=True, num_iteration=m.best_iteration_)
    np.testing.assert_allclose(m.decision_function(X), raw, rtol=0, atol=1e-9)


def test_training_records_the_bags_and_scores_add_up(data):
    leads, ix, y, closed = data
    model = train_conversion_model(leads, y, ix, closed_at=closed,
                                   config=TrainingConfig(seed=2, cv_folds=3, outer_bags=3, interaction_pairs=4))
    meta = model.metadata
    assert meta["outer_bags"] == 3 and len(meta["bag_iterations"]) == 3
    assert meta["config"]["outer_bags"] == 3
    assert meta["best_iteration"] == int(np.mean(meta["bag_iterations"]))
    scored = model.score(leads.head(50), ix, reasons=False)
    pts = model.points(leads.head(50), ix)
    np.testing.assert_allclose(scored["base_score"] + pts.sum(axis=1), scored["score"], atol=1e-9)
    # the default (no outer_bags) follows the data-size rule: 1,200 leads -> 14 bags
    assert TrainingConfig().outer_bags is None and outer_bag_count(len(leads)) == 14
