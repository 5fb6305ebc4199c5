import json
import pickle

import numpy as np
import pytest

from leadscore.ml import AdditiveBoostingClassifier, ScoreResult, evaluate, train_conversion_model
from leadscore.ml.explain import distribute_points, grade_of

from .conftest import AS_OF
from tests.support import trained


def test_gam_lookup_tables_reproduce_lightgbm_exactly():
    rng = np.random.default_rng(0)
    n = 3000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 6, n).astype(float), rng.exponential(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    logit = np.sin(2 * np.nan_to_num(X[:, 0])) + (X[:, 1] == 3) - 0.5 * X[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    m = AdditiveBoostingClassifier(n_estimators=200, num_leaves=8).fit(X, y, categorical_features=[1])
    assert m.fit(X, y, categorical_features=[1]) is m
    trees = m.booster_.trees_to_dataframe()
    assert trees.dropna(subset=["split_feature"]).groupby("tree_index")["split_feature"].nunique().max() == 1
    # new points, including exact split thresholds, missing values and unseen categories
    thresholds = trees.loc[trees["split_feature"] == "Column_0", "threshold"].to_numpy(dtype=float)
    Z = np.column_stack([np.r_[thresholds, np.nan, rng.normal(size=200)],
                         np.r_[np.full(len(thresholds), 7.0), np.nan, rng.integers(-1, 8, 200)],
                         rng.exponential(size=len(thresholds) + 201)])
    raw = m.booster_.predict(Z, raw_score=True, num_iteration=m.best_iteration_)
    np.testing.assert_allclose(m.decision_function(Z), raw, rtol=0, atol=1e-9)
    contrib = m.contributions(Z)
    np.testing.assert_allclose(m.expected_value_ + contrib.sum(1), raw, atol=1e-9)
    one = np.array([m.contributions_one(z) for z in Z])
    np.testing.assert_array_equal(one, contrib)
    # centred: average contribution on the training data is zero
    np.testing.assert_allclose(m.contributions(X).mean(0), 0, atol=1e-9)


def _interaction_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 6, n).astype(float), rng.exponential(size=n),
                         rng.normal(size=n), rng.normal(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    X[rng.random(n) < 0.1, 1] = np.nan
    X[rng.random(n) < 0.2, 4] = 0.0  # exact zeros: LightGBM's ±1e-35 "zero" thresholds appear
    logit = 1.5 * X[:, 3] * np.nan_to_num(X[:, 0]) + 2 * (X[:, 1] == 3) * (X[:, 2] > 1) - 0.3 * X[:, 4]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _probe_rows(m, X, rng):
    """Rows hitting every split threshold of every feature, missing values, unseen and negative codes,
    values in LightGBM's zero band, each combined with random values of the other features."""
    trees = m.booster_.trees_to_dataframe()
    rows = [X[rng.integers(0, len(X), 300)].copy()]
    for j in range(X.shape[1]):
        t = trees.loc[(trees["split_feature"] == f"Column_{j}") & (trees["decision_type"] == "<="), "threshold"]
        special = np.r_[t.to_numpy(dtype=float), np.nan, 0.0, 1e-36, -1e-36, 1e-35, -1e-35, -0.5, 2.5, 7.0, 99.0, -1.0]
        block = X[rng.integers(0, len(X), len(special))].copy()
        block[:, j] = special
        rows.append(block)
    Z = np.vstack(rows)
    Z[rng.random(Z.shape) < 0.1] = np.nan
    return Z


@pytest.mark.parametrize("pairs", [None, [(0, 3), (1, 2)], [(3, 0)], [(0, 3), (0, 4), (3, 4), (1, 2), (1, 0)]])
def test_ga2m_pair_tables_reproduce_lightgbm_exactly(pairs):
    X, y = _interaction_data()
    m = AdditiveBoostingClassifier(n_estimators=150, num_leaves=8, max_pairs=2, pairs=pairs).fit(
        X, y, categorical_features=[1])
    if pairs is None:  # screened on the training data: the planted interactions are found first
        assert set(m.pairs_) == {(0, 3), (1, 2)}
    else:
        assert m.pairs_ == [tuple(sorted(p)) for p in pairs]
    groups = [set(g) for g in m.lgb_params(X.shape[1])["interaction_constraints"]]
    assert len(m.pair_tables_) == len(m.pairs_) == sum(len(g) == 2 for g in groups)
    if pairs is not None and len(pairs) > 2:
        # overlapping pairs: LightGBM constrains per branch, so some tree mixes two pairs in
        # different branches (e.g. (0, 3) left and (0, 4) right); the leaf-level split must hold
        trees = m.booster_.trees_to_dataframe().dropna(subset=["split_feature"])
        mixed = trees.groupby("tree_index")["split_feature"].nunique()
        assert (mixed > 2).any()
    Z = _probe_rows(m, X, np.random.default_rng(5))
    raw = m.booster_.predict(Z, raw_score=True, num_iteration=m.best_iteration_)
    contrib = m.contributions(Z)
    np.testing.assert_allclose(m.expected_value_ + contrib.sum(1), raw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(m.decision_function(Z), raw, rtol=0, atol=1e-9)
    one = np.array([m.contributions_one(z) for z in Z])
    np.testing.assert_array_equal(one, contrib)
    # Shapley shares relative to the training distribution: each feature averages zero on training rows
    np.testing.assert_allclose(m.contributions(X).mean(0), 0, atol=1e-9)
    # a feature's share moves with the feature: the strong interaction partner matters to both sides
    assert np.ptp(contrib[:, 0]) > 0.5 and np.ptp(contrib[:, 3]) > 0.5
    # pickling keeps the tables (the artifact is pickled in the registry)
    clone = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(clone.contributions(Z), contrib)


def test_pair_shapley_split_is_exact_and_fair():
    """Two-player Shapley values of g(a, b) = u(a) + v(b) + w(a, b) over a known joint distribution."""
    from leadscore.ml.gam import build_tables

    X, y = _interaction_data(seed=3)
    m = AdditiveBoostingClassifier(n_estimators=100, pairs=[(0, 3)]).fit(X, y, categorical_features=[1])
    pair = m.pair_tables_[0]
    ia, ib = pair.axis_a.index(X[:, 0]), pair.axis_b.index(X[:, 3])
    g = pair.phi_a + pair.phi_b  # = g − E g
    joint = np.zeros_like(g)
    np.add.at(joint, (ia, ib), 1 / len(X))
    pa, pb = joint.sum(1), joint.sum(0)
    va, vb = g @ pb, pa @ g
    # efficiency is built in; symmetry/dummy: phi_a − phi_b == v(a) − v(b) (the Shapley difference)
    np.testing.assert_allclose(pair.phi_a - pair.phi_b, va[:, None] - vb[None, :], atol=1e-12)
    np.testing.assert_allclose((joint * g).sum(), 0, atol=1e-12)
    # rebuilding from the booster gives the same tables (deterministic, no state)
    _, again, ev = build_tables(m.booster_, X, [1], m.best_iteration_, m.pairs_)
    np.testing.assert_array_equal(again[0].phi_a, pair.phi_a)
    assert ev == m.expected_value_


def test_pairs_must_be_pairs_of_two_features():
    X, y = _interaction_data(n=500)
    for bad in ([(0, 0)], [(0, 3), (3, 0)], [(0, 1, 2)]):
        with pytest.raises(ValueError, match="pairs"):
            AdditiveBoostingClassifier(n_estimators=10, pairs=bad).fit(X, y)


def test_points_add_up_and_keep_their_sign():
    rng = np.random.default_rng(1)
    contrib = rng.normal(0, 1, (500, 12))
    contrib[:5] = 0.0
    contrib[5] = [1.0, -1.0] * 6  # perfect cancellation
    pts, score, base = distribute_points(-0.4, contrib, lambda r: 100 / (1 + np.exp(-r)))
    np.testing.assert_allclose(base + pts.sum(1), score, atol=1e-9)
    assert np.all(pts[contrib > 0] >= 0) and np.all(pts[contrib < 0] <= 0)
    assert np.all(pts[:5] == 0) and np.all(np.abs(pts[5]) < 30)


def test_score_contributions_add_up_to_score(model, data):
    leads, ix, y, _ = data
    scored = model.score(leads.head(200), ix, as_of=AS_OF)
    points = model.points(leads.head(200), ix, as_of=AS_OF)
    np.testing.assert_allclose(scored["base_score"] + points.sum(axis=1), scored["score"], atol=1e-9)
    assert scored["score"].between(0, 100).all()
    np.testing.assert_allclose(scored["probability"], model.predict_proba(leads.head(200), ix, as_of=AS_OF)[:, 1])
    assert set(scored["grade"]) <= {"A", "B", "C", "D"}
    for _, row in scored.head(50).iterrows():
        for reason in row["top_positive"]:
            assert reason["points"] > 0 and reason["sentence"].endswith(")")
        for reason in row["top_negative"]:
            assert reason["points"] < 0
        pts = [r["points"] for r in row["top_positive"]]
        assert pts == sorted(pts, reverse=True) and len(pts) <= 3


def test_score_one_matches_batch_and_adds_up(model, data):
    leads, ix, _, _ = data
    batch = model.score(leads.head(30), ix, as_of=AS_OF)
    for i in range(30):
        lead = leads.iloc[i].to_dict()
        res = model.score_one(lead, ix[ix["lead_id"] == lead["lead_id"]].to_dict("records"), as_of=AS_OF)
        assert isinstance(res, ScoreResult)
        assert res.base_score + sum(res.contributions.values()) == pytest.approx(res.score, abs=1e-9)
        assert res.score == pytest.approx(batch["score"].iloc[i], abs=1e-9)
        assert res.grade == batch["grade"].iloc[i]
        assert [r["feature"] for r in res.top_positive] == [r["feature"] for r in batch["top_positive"].iloc[i]]
    json.dumps(res.to_dict())


def test_grades_use_documented_cutoffs():
    assert list(grade_of(np.array([0, 14.9, 15, 34.9, 35, 59.9, 60, 100]))) == list("DDCCBBAA")


def test_artifact_metadata_pickle_and_report(model, data):
    leads, ix, y, _ = data
    meta = model.metadata
    for key in ["feature_names", "params", "metrics", "library_versions", "data_fingerprint", "data_window",
                "row_counts", "calibration", "threshold", "excluded_columns", "leakage", "config"]:
        assert key in meta, key
    assert meta["model_kind"] == "gam" and meta["row_counts"]["leads"] == len(leads)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(leads.head(50), ix, as_of=AS_OF),
                                  model.predict_proba(leads.head(50), ix, as_of=AS_OF))
    report = model.evaluation.to_dict()
    json.dumps(report)
    assert {"rules", "logistic_regression"} <= set(report["baselines"])
    assert report["model"]["roc_auc"] > 0.6
    assert "roc_auc" in model.evaluation.table()
    again = evaluate(model, leads.tail(300), y.tail(300), ix, as_of=AS_OF)
    assert 0 <= again.model["ece"] <= 1 and again.feature_importance


def test_training_is_reproducible_with_a_seed(data, model):
    # ``model`` was trained on ``data`` with the same config, often by another xdist worker (tests.support.trained).
    leads, ix, y, closed = data
    a = model
    b = train_conversion_model(leads, y, ix, closed_at=closed, config=trained.CONFIG)
    pa = a.predict_proba(leads, ix, as_of=AS_OF)
    np.testing.assert_array_equal(pa, b.predict_proba(leads, ix, as_of=AS_OF))
    assert a.metadata["data_fingerprint"] == b.metadata["data_fingerprint"]


def test_progress_callback_and_rules_fallback(data):
    leads, ix, y, closed = data
    small = leads.head(60)
    steps = []
    model = train_conversion_model(small, y.head(60), ix[ix["lead_id"].isin(small["lead_id"])],
                                   progress=lambda step, fraction: steps.append((step, fraction)))
    assert model.kind == "rules" and "rules model" in model.metadata["fallback_reason"]
    assert steps[-1] == ("done", 1.0)
    res = model.score_one(small.iloc[0].to_dict(), [], as_of=AS_OF)
    assert res.model_kind == "rules"
    assert res.base_score + sum(res.contributions.values()) == pytest.approx(res.score)
    scored = model.score(small, ix, as_of=AS_OF)
    assert scored["score"].between(0, 100).all()


def test_times_outside_64_bit_nanoseconds_score_as_missing_on_every_path(model, data):
    # A year-2 lead or a year-3000 interaction overflowed the records path's int64 arrays (a 500 from
    # POST /v1/score, a rescoring that failed on every retry); the DataFrame path coerced them to NaT.
    from datetime import datetime

    leads, ix, _, _ = data
    lead = leads.iloc[0].to_dict()
    happened = ix[ix["lead_id"] == lead["lead_id"]].to_dict("records")
    assert len(happened) >= 2
    far = {**lead, "created_at": datetime(2, 1, 1)}
    far_events = [{**happened[0], "occurred_at": datetime(3000, 1, 1)}, *happened[1:]]
    missing = {**lead, "created_at": None}
    missing_events = [{**happened[0], "occurred_at": None}, *happened[1:]]
    expected = model.score_one(missing, missing_events, as_of=AS_OF)
    assert model.score_one(far, far_events, as_of=AS_OF).to_dict() == expected.to_dict()
    owners = [0] * len(far_events)
    records = model.score_records([far], far_events, owners, as_of=AS_OF)
    assert records["score"][0] == pytest.approx(expected.score, abs=1e-9)
