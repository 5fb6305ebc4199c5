import json
import pickle

import numpy as np
import pytest

from leadscore.ml import AdditiveBoostingClassifier, ScoreResult, TrainingConfig, evaluate, train_conversion_model
from leadscore.ml.explain import distribute_points, grade_of

from .conftest import AS_OF


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


def test_training_is_reproducible_with_a_seed(data):
    leads, ix, y, closed = data
    cfg = TrainingConfig(seed=7, cv_folds=2)
    a = train_conversion_model(leads, y, ix, closed_at=closed, config=cfg)
    b = train_conversion_model(leads, y, ix, closed_at=closed, config=cfg)
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
