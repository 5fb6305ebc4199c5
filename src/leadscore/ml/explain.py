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

One vectorised calibration call for the four points of every lead: negligible
cost. ``top_reasons`` and ``reason_lists`` turn the points into the top positive
and negative sentences for many leads at once (the batch path); ``score_one``
uses the same picking, so both paths give the same reasons.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

from .features.schema import format_many

GRADE_CUTOFFS: tuple[tuple[str, float], ...] = (("A", 60.0), ("B", 35.0), ("C", 15.0))
"""Default grade cut-offs on the 0–100 score (= calibrated probability in %).

A: score ≥ 60 (more likely than not to convert), B: 35–60, C: 15–35, D: < 15.
Absolute cut-offs keep a grade's meaning stable across retrains; a brokerage
with a very low base rate can pass its own via ``TrainingConfig.grade_cutoffs``.
"""


def point_scales(base_raw: float, contrib: np.ndarray, to_score: Callable[[np.ndarray], np.ndarray]):
    """Per-row factors of ``distribute_points``: (pos_scale, neg_scale, score, base_score).

    ``points_j = φ_j · pos_scale`` for ``φ_j > 0`` and ``φ_j · neg_scale`` otherwise
    (``pos_scale = P/S⁺``, ``neg_scale = N/S⁻``, 0 when the group is empty); both are ≥ 0.
    """
    contrib = np.atleast_2d(np.asarray(contrib, dtype=float))
    s_pos = np.sum(contrib, axis=1, where=contrib > 0)
    s_neg = np.sum(contrib, axis=1, where=contrib < 0)
    b = np.full(len(contrib), float(base_raw))
    # one call of the (elementwise) calibration map for the four points of every row
    f_b, f_all, f_pos, f_neg = to_score(np.concatenate([b, b + s_pos + s_neg, b + s_pos, b + s_neg])).reshape(4, -1)
    up = 0.5 * ((f_pos - f_b) + (f_all - f_neg))
    down = (f_all - f_b) - up
    with np.errstate(invalid="ignore", divide="ignore"):
        pos_scale = np.where(s_pos > 0, up / np.where(s_pos > 0, s_pos, 1.0), 0.0)
        neg_scale = np.where(s_neg < 0, down / np.where(s_neg < 0, s_neg, -1.0), 0.0)
    return pos_scale, neg_scale, f_all, f_b


def distribute_points(base_raw: float, contrib: np.ndarray, to_score: Callable[[np.ndarray], np.ndarray]):
    """Split score − base_score among features. Returns (points, score, base_score).

    ``contrib`` is (n, d) log-odds; ``to_score`` maps raw log-odds to 0–100.
    Three passes over the (n, d) matrix (two masked sums and one scaled product).
    """
    contrib = np.atleast_2d(np.asarray(contrib, dtype=float))
    pos_scale, neg_scale, f_all, f_b = point_scales(base_raw, contrib, to_score)
    points = contrib * np.where(contrib > 0, pos_scale[:, None], neg_scale[:, None])
    return points, f_all, f_b


def grade_of(score: np.ndarray | float, cutoffs: Sequence[tuple[str, float]] = GRADE_CUTOFFS, lowest: str = "D"):
    """Letter grade(s) for score(s) on 0–100 (cut-offs sorted high to low, inclusive)."""
    scores = np.atleast_1d(np.asarray(score, dtype=float))
    out = np.full(len(scores), lowest, dtype=object)
    for letter, cut in sorted(cutoffs, key=lambda c: c[1]):  # low to high: higher cut overwrites
        out[scores >= cut] = letter
    return out if np.ndim(score) else out[0]


def top_reasons(points: np.ndarray, k: int = 3, min_points: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k largest positive and k most negative points per row (-1 = none), largest first.

    Contributions smaller than ``min_points`` in size are not worth a sentence. Ties go to the
    lower feature index. Picks by repeated argmax/argmin (k passes over the matrix): for k = 3 this
    is several times faster than ``argpartition`` + sorting the k picked.
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    n, d = points.shape
    k = min(k, d)
    pos = np.full((n, k), -1, dtype=np.int64)
    neg = np.full((n, k), -1, dtype=np.int64)
    if d == 0 or n == 0:
        return pos, neg
    work = points.copy()
    rows = np.arange(n)
    for out, pick, worst, keep in ((pos, np.argmax, -np.inf, lambda v: v >= min_points),
                                   (neg, np.argmin, np.inf, lambda v: v <= -min_points)):
        saved = []
        for r in range(k):
            j = pick(work, axis=1)
            value = work[rows, j]
            out[:, r] = np.where(keep(value), j, -1)
            saved.append((j, value))
            work[rows, j] = worst
        for j, value in reversed(saved):  # restore for the other side
            work[rows, j] = value
    return pos, neg


def format_points(points: float) -> str:
    """'+12' / '-3' / '+0.4' for sentences."""
    return f"{points:+.0f}" if abs(points) >= 0.95 else f"{points:+.1f}"


def format_points_many(points: np.ndarray, prefix: str = "", suffix: str = "") -> np.ndarray:
    """``[prefix + format_points(p) + suffix for p in points]`` as an object array (identical strings)."""
    points = np.asarray(points, dtype=float).reshape(-1)
    out = np.empty(len(points), dtype=object)
    big = np.abs(points) >= 0.95
    if big.any():
        out[big] = format_many(points[big], "+.0f", prefix, suffix)
    if not big.all():
        out[~big] = format_many(points[~big], "+.1f", prefix, suffix)
    return out


def reason_lists(idx: np.ndarray, points: np.ndarray, names: Sequence[str],
                 sentences: Callable[[int, np.ndarray], Sequence[str]]) -> list[list[dict]]:
    """Per row, the reasons ``{"feature", "sentence", "points"}`` picked by ``idx`` (from ``top_reasons``).

    ``sentences(j, rows)`` returns the plain sentence of feature ``j`` for each of ``rows`` (row
    indices). Everything but the final dicts is vectorised: sentences per feature for all rows at
    once, points labels per distinct rounded value (``format_points_many``).
    """
    idx = np.atleast_2d(idx)
    n = idx.shape[0]
    valid = idx >= 0
    row, rank = np.nonzero(valid)  # row-major: each row's reasons stay together, in rank order
    feat = idx[row, rank]
    pts = points[row, feat]
    text = np.empty(len(feat), dtype=object)
    order = np.argsort(feat, kind="stable")
    bounds = np.flatnonzero(np.diff(feat[order])) + 1
    for group in np.split(order, bounds) if len(order) else ():
        text[group] = sentences(int(feat[group[0]]), row[group])
    sentence = text + format_points_many(pts, " (", ")")  # object arrays: one C loop of str + str
    names = np.asarray(list(names), dtype=object)
    ends = np.cumsum(valid.sum(axis=1)).tolist()
    starts = [0] + ends[:-1]
    with _collector_paused():
        flat = [{"feature": f, "sentence": s, "points": p}
                for f, s, p in zip(names[feat].tolist(), sentence.tolist(), pts.tolist())]
        return [flat[a:b] for a, b in zip(starts, ends)] if n else []


@contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector while building many small acyclic containers.

    A million per-lead lists trigger hundreds of collections, each walking the growing heap: measured
    at about half the time of building the reasons. Nothing built here can form a cycle; the
    collector is switched back on (if it was on) as soon as the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
