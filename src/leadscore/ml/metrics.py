"""Binary-outcome metrics shared by training, evaluation, drift and the benchmark."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

EPS = 1e-6


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """ECE with equal-width probability bins, weighted by the share of rows per bin."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    gap = np.abs(np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins))
    return float(gap.sum() / len(y))


def top_fraction_lift(y, p, fraction: float = 0.1) -> tuple[float, float]:
    """(lift, capture) of the top ``fraction`` of leads by probability.

    Lift = conversion rate in the top group / overall rate; capture = share of
    all conversions that fall in the top group. Ties are broken by order.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    k = max(1, int(round(fraction * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    total = y.sum()
    if total == 0:
        return float("nan"), float("nan")
    return float(y[top].mean() / y.mean()), float(y[top].sum() / total)


def choose_threshold(y, p, metric: str = "accuracy", *, bootstrap: int = 100, seed: int = 0) -> float:
    """Probability cut-off maximising ``metric`` ('accuracy' or 'f1') on held-out (y, p).

    ``bootstrap`` > 0 (the default): the median of the best cut-offs of that many bootstrap
    resamples (Poisson(1) row weights, seeded), not the best cut-off of the sample itself. Why: the
    metric is a step function of the cut-off whose top is a wide, flat, noisy plateau; its arg max
    on a few thousand held-out rows jumps between near-equal plateaus by chance (an arg max
    converges at the slow cube-root rate), and bagging such hard-decision estimators removes much of
    that variance (Bühlmann & Yu 2002, "Analyzing bagging"). The median rather than the mean so
    that a mixture of "cut here" and "predict nobody positive" (rare outcomes) picks one of the two.
    ``bootstrap=0``: the sample's own arg max. Cost O(bootstrap × rows), so the replicate count falls
    to keep it ≤ 10 million row-visits (≥ 10 replicates; 12 at 800,000 rows, about half a second):
    the arg max of a large sample barely moves anyway.
    """
    if metric not in ("accuracy", "f1"):
        raise ValueError(f"unknown threshold metric {metric!r}")
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order].astype(float)
    if bootstrap <= 0 or len(ps) < 2:
        return _best_cut(ps, ys, np.ones(len(ps)), metric)
    rng = np.random.default_rng(seed)
    cuts = []
    for _ in range(max(min(int(bootstrap), 10), min(int(bootstrap), 10_000_000 // len(ps)))):
        w = rng.poisson(1.0, len(ps)).astype(float)
        keep = w > 0  # a resample holds only these rows: cut between them only
        if keep.sum() >= 2:
            cuts.append(_best_cut(ps[keep], ys[keep], w[keep], metric))
    return float(np.median(cuts)) if cuts else _best_cut(ps, ys, np.ones(len(ps)), metric)


def _best_cut(ps: np.ndarray, ys: np.ndarray, w: np.ndarray, metric: str) -> float:
    """Best cut-off of rows sorted by decreasing probability ``ps``, with row weights ``w``."""
    tp = np.cumsum(w * ys)  # predicting positive for the top i+1 rows
    fp = np.cumsum(w * (1 - ys))
    total = float(w.sum())
    pos = tp[-1] if len(tp) else 0.0
    neg = total - pos
    if metric == "f1":
        score = 2 * tp / np.maximum(tp + fp + pos, 1e-12)
    else:
        score = (tp + (neg - fp)) / max(total, 1e-12)
    # only cut between distinct probabilities
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    score = np.where(last_of_tie, score, -np.inf)
    best = int(np.argmax(score))
    none_positive = (neg / max(total, 1e-12)) if metric == "accuracy" else 0.0
    if score[best] <= none_positive:
        return float(min(1.0, ps[0] + EPS))
    nxt = ps[best + 1] if best + 1 < len(ps) else 0.0
    return float((ps[best] + nxt) / 2)


def binary_metrics(y, p, threshold: float = 0.5) -> dict[str, float]:
    """All report metrics for outcomes ``y`` and probabilities ``p``."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    both = len(np.unique(y)) == 2
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    lift, capture = top_fraction_lift(y, p, 0.1)
    precision = tp / pred.sum() if pred.sum() else float("nan")
    recall = tp / y.sum() if y.sum() else float("nan")
    return {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "lift_top_decile": lift,
        "capture_top_decile": capture,
        "threshold": float(threshold),
        "accuracy": float(np.mean(pred == (y == 1))),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.0,
    }
