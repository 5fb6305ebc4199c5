"""From log-odds contributions to score points, grades and reasons.

The score is ``100 × calibrated probability``. The model gives exact
per-feature contributions ``φ_j`` in log-odds around the average lead
(``raw = base_raw + Σ φ_j``), but calibration is a non-linear monotone map
``F`` (raw → score), so log-odds cannot be added as points directly.

``distribute_points`` splits ``F(raw) − F(base_raw)`` among features so that:

* the points add up exactly: ``base_score + Σ points_j == score``;
* a feature pushing the log-odds up never loses points and vice versa
  (positive and negative contributions are kept apart);
* nothing blows up when contributions cancel (a plain proportional split
  ``Δ · φ_j / Σφ`` does when ``Σφ ≈ 0``).

It treats "all positive contributions" and "all negative contributions" as
two players and gives each its Shapley value (the average of adding it first
or second), then shares each group's points in proportion to ``φ_j``::

    P = ½[(F(b+S⁺) − F(b)) + (F(b+S) − F(b+S⁻))]      (≥ 0)
    N = (F(b+S) − F(b)) − P                             (≤ 0)
    points_j = P·φ_j/S⁺ if φ_j > 0 else N·φ_j/S⁻

Four calibration calls per lead, vectorised: negligible cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

GRADE_CUTOFFS: tuple[tuple[str, float], ...] = (("A", 60.0), ("B", 35.0), ("C", 15.0))
"""Default grade cut-offs on the 0–100 score (= calibrated probability in %).

A: score ≥ 60 (more likely than not to convert), B: 35–60, C: 15–35, D: < 15.
Absolute cut-offs keep a grade's meaning stable across retrains; a brokerage
with a very low base rate can pass its own via ``TrainingConfig.grade_cutoffs``.
"""


def distribute_points(base_raw: float, contrib: np.ndarray, to_score: Callable[[np.ndarray], np.ndarray]):
    """Split score − base_score among features. Returns (points, score, base_score).

    ``contrib`` is (n, d) log-odds; ``to_score`` maps raw log-odds to 0–100.
    """
    contrib = np.atleast_2d(np.asarray(contrib, dtype=float))
    pos = np.where(contrib > 0, contrib, 0.0)
    neg = np.where(contrib < 0, contrib, 0.0)
    s_pos, s_neg = pos.sum(axis=1), neg.sum(axis=1)
    b = np.full(len(contrib), float(base_raw))
    f_b, f_all = to_score(b), to_score(b + s_pos + s_neg)
    f_pos, f_neg = to_score(b + s_pos), to_score(b + s_neg)
    up = 0.5 * ((f_pos - f_b) + (f_all - f_neg))
    down = (f_all - f_b) - up
    with np.errstate(invalid="ignore", divide="ignore"):
        share_pos = np.where(s_pos[:, None] > 0, pos / np.where(s_pos > 0, s_pos, 1.0)[:, None], 0.0)
        share_neg = np.where(s_neg[:, None] < 0, neg / np.where(s_neg < 0, s_neg, -1.0)[:, None], 0.0)
    points = share_pos * up[:, None] + share_neg * down[:, None]
    return points, f_all, f_b


def grade_of(score: np.ndarray | float, cutoffs: Sequence[tuple[str, float]] = GRADE_CUTOFFS, lowest: str = "D"):
    """Letter grade(s) for score(s) on 0–100 (cut-offs sorted high to low, inclusive)."""
    scores = np.atleast_1d(np.asarray(score, dtype=float))
    out = np.full(len(scores), lowest, dtype=object)
    for letter, cut in sorted(cutoffs, key=lambda c: c[1]):  # low to high: higher cut overwrites
        out[scores >= cut] = letter
    return out if np.ndim(score) else out[0]


def top_reasons(points: np.ndarray, k: int = 3, min_points: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k largest positive and k most negative points per row (-1 = none).

    Contributions smaller than ``min_points`` in size are not worth a sentence.
    """
    points = np.atleast_2d(points)
    n, d = points.shape
    k = min(k, d)
    if d == 0:
        empty = np.full((n, 0), -1)
        return empty, empty
    order_pos = np.argpartition(-points, k - 1, axis=1)[:, :k]
    order_neg = np.argpartition(points, k - 1, axis=1)[:, :k]
    rows = np.arange(n)[:, None]
    order_pos = np.take_along_axis(order_pos, np.argsort(-points[rows, order_pos], axis=1, kind="stable"), 1)
    order_neg = np.take_along_axis(order_neg, np.argsort(points[rows, order_neg], axis=1, kind="stable"), 1)
    order_pos = np.where(points[rows, order_pos] >= min_points, order_pos, -1)
    order_neg = np.where(points[rows, order_neg] <= -min_points, order_neg, -1)
    return order_pos, order_neg


def format_points(points: float) -> str:
    """'+12' / '-3' / '+0.4' for sentences."""
    return f"{points:+.0f}" if abs(points) >= 0.95 else f"{points:+.1f}"
