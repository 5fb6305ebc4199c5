"""Vectorised reasons give exactly what the one-value-at-a-time definitions give."""

import math

import numpy as np
import pytest

from leadscore.ml.explain import distribute_points, format_points, format_points_many, reason_lists, top_reasons
from leadscore.ml.features.schema import FeatureSpec, format_many

from .conftest import AS_OF


def _awkward_values(rng) -> np.ndarray:
    """Continuous values plus rounding ties, signed zeros, tiny/huge and non-finite values."""
    return np.concatenate([
        rng.normal(0, 1, 20_000), rng.normal(0, 1e6, 2_000), rng.uniform(-1, 1, 5_000).round(3),
        np.arange(-500, 500) / 200, np.arange(-200, 200) / 40, rng.integers(-10_000, 10_000, 5_000) * 0.005,
        [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, 0.125, 0.375, 0.005, 0.015, 0.045, 0.95, -0.95, 0.9499999999999999,
         1e-300, -1e-300, 5e-324, 1e300, -1e17, 1e16, math.inf, -math.inf],
    ])


@pytest.mark.parametrize("spec", [".0f", ".1f", ".2f", "+.1f", "+.0f", ",.0f", ".0%", ".2%", "+.1%", ",.4g", "g"])
def test_format_many_matches_format(spec, rng):
    values = _awkward_values(rng)
    got = format_many(values, spec, "A ", " z")
    assert got.tolist() == [f"A {format(v, spec)} z" for v in values.tolist()]


def test_format_points_many_matches_format_points(rng):
    values = np.concatenate([_awkward_values(rng), rng.normal(0, 30, 20_000)])
    values = values[np.isfinite(values)]
    assert format_points_many(values, " (", ")").tolist() == [f" ({format_points(v)})" for v in values.tolist()]


@pytest.mark.parametrize("spec", [
    FeatureSpec("a", "numeric", "Viewed {value:.0f} listings in the last 7 days", "No interactions yet"),
    FeatureSpec("b", "numeric", "{value:.0%} of viewed listings are within budget", "unknown"),
    FeatureSpec("c", "numeric", "Activity per day changed by {value:+.1f} this week", "n/a"),
    FeatureSpec("d", "numeric", "Maximum budget is {value:,.0f}", "No maximum budget given"),
    FeatureSpec("e", "numeric", "Extra is {value:,.4g}", "Extra is not given"),
    FeatureSpec("f", "numeric", "Lead arrived on a {dow}", "unknown"),
    FeatureSpec("g", "numeric", "Braces {{kept}} and {value:.1f}", "unknown"),
    FeatureSpec("h", "numeric", "{value:.0f}", "unknown"),
    FeatureSpec("i", "boolean", "Pre-approved", "not given", false_template="Not pre-approved"),
    FeatureSpec("j", "categorical", "Source is '{label}'", "not given", categories=("other", "web", "referral")),
    FeatureSpec("k", "numeric", "Bad spec {value:d}", "unknown"),
])
def test_describe_many_matches_describe(spec, rng):
    values = np.concatenate([_awkward_values(rng)[:3000], [np.nan, np.nan, 0.0, 1.0, 2.0, 3.0, -1.0, 6.0, 7.0]])
    if spec.kind != "numeric":
        values = np.concatenate([rng.integers(-1, 5, 3000).astype(float), [np.nan, 0.0, 1.0, 0.4, 0.6]])
    assert spec.describe_many(values).tolist() == [spec.describe(v) for v in values.tolist()]


def test_top_reasons_are_the_largest_in_order_with_ties_to_the_lower_index(rng):
    pts = rng.normal(0, 2, (3000, 15)).round(1)  # many exact ties
    pts[:20] = 0.0
    pts[20] = [0.04, -0.04] * 7 + [0.0]  # below min_points: no reasons
    pos, neg = top_reasons(pts, 3)
    for i, row in enumerate(pts):
        order = np.argsort(-row, kind="stable")
        want_pos = [j for j in order[:3] if row[j] >= 0.05]
        order = np.argsort(row, kind="stable")
        want_neg = [j for j in order[:3] if row[j] <= -0.05]
        assert pos[i][pos[i] >= 0].tolist() == want_pos
        assert neg[i][neg[i] >= 0].tolist() == want_neg
    assert (pos[:21] == -1).all() and (neg[:21] == -1).all()
    assert top_reasons(np.zeros((4, 0)), 3)[0].shape == (4, 0)
    assert top_reasons(np.zeros((0, 5)), 3)[0].shape == (0, 3)


def test_distribute_points_matches_the_documented_formula(rng):
    contrib = rng.normal(0, 1, (400, 9))
    contrib[:3] = 0.0
    contrib[3, :5] = -np.abs(contrib[3, :5])
    to_score = lambda r: 100 / (1 + np.exp(-r))  # noqa: E731
    pts, score, base = distribute_points(0.3, contrib, to_score)
    pos, neg = np.where(contrib > 0, contrib, 0.0), np.where(contrib < 0, contrib, 0.0)
    sp, sn = pos.sum(1), neg.sum(1)
    f = lambda r: to_score(0.3 + r)  # noqa: E731
    up = 0.5 * ((f(sp) - f(0)) + (f(sp + sn) - f(sn)))
    down = (f(sp + sn) - f(0)) - up
    with np.errstate(invalid="ignore", divide="ignore"):
        want = (np.where(sp[:, None] > 0, pos / sp[:, None], 0) * up[:, None]
                + np.where(sn[:, None] < 0, neg / sn[:, None], 0) * down[:, None])
    np.testing.assert_allclose(pts, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(base + pts.sum(1), score, atol=1e-9)


def test_reason_lists_shape_and_order():
    pts = np.array([[3.0, -2.0, 0.5], [0.0, 0.0, 0.0], [-1.0, 4.0, 2.0]])
    pos, _ = top_reasons(pts, 2)
    out = reason_lists(pos, pts, ["a", "b", "c"], lambda j, rows: [f"f{j}r{r}" for r in rows.tolist()])
    assert out == [[{"feature": "a", "sentence": "f0r0 (+3)", "points": 3.0},
                    {"feature": "c", "sentence": "f2r0 (+0.5)", "points": 0.5}],
                   [],
                   [{"feature": "b", "sentence": "f1r2 (+4)", "points": 4.0},
                    {"feature": "c", "sentence": "f2r2 (+2)", "points": 2.0}]]
    assert reason_lists(np.zeros((0, 3), dtype=int), np.zeros((0, 3)), ["a", "b", "c"], None) == []


def test_batch_reasons_are_the_scalar_sentences_of_the_model_contributions(model, data):
    """Every batch reason is describe(feature, value) + format_points(points) of that lead's own points."""
    leads, ix, _, _ = data
    head = leads.head(300)
    scored = model.score(head, ix, as_of=AS_OF)
    X = model.features(head, ix, as_of=AS_OF)
    points = model.points(head, ix, as_of=AS_OF)
    for i in range(len(head)):
        for side in ("top_positive", "top_negative"):
            for r in scored[side].iloc[i]:
                p = points[r["feature"]].iloc[i]
                assert r["points"] == pytest.approx(p, abs=1e-12)
                value = X[r["feature"]].iloc[i]
                assert r["sentence"] == f"{model.builder.describe(r['feature'], value)} ({format_points(r['points'])})"


def test_score_one_gives_the_batch_reasons(model, data):
    """The online path picks the same reasons, with the same sentences and points, as `score`."""
    leads, ix, _, _ = data
    batch = model.score(leads.head(40), ix, as_of=AS_OF)
    for i in range(40):
        lead = leads.iloc[i].to_dict()
        res = model.score_one(lead, ix[ix["lead_id"] == lead["lead_id"]].to_dict("records"), as_of=AS_OF)
        for side in ("top_positive", "top_negative"):
            one, many = getattr(res, side), batch[side].iloc[i]
            assert [(r["feature"], r["sentence"]) for r in one] == [(r["feature"], r["sentence"]) for r in many]
            assert [r["points"] for r in one] == pytest.approx([r["points"] for r in many], abs=1e-9)
            assert all(r["points"] == pytest.approx(res.contributions[r["feature"]], abs=1e-12) for r in one)
