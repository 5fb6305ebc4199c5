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


def choose_threshold(y, p, metric: str = "accuracy") -> float:
    """Probability cut-off maximising ``metric`` ('accuracy' or 'f1') on (y, p)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)  # predicting positive for the top i+1 rows
    fp = np.cumsum(1 - ys)
    pos = ys.sum()
    neg = len(ys) - pos
    if metric == "f1":
        score = 2 * tp / np.maximum(tp + fp + pos, 1)
    elif metric == "accuracy":
        score = (tp + (neg - fp)) / max(len(ys), 1)
    else:
        raise ValueError(f"unknown threshold metric {metric!r}")
    # only cut between distinct probabilities
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    score = np.where(last_of_tie, score, -np.inf)
    best = int(np.argmax(score))
    none_positive = (neg / max(len(ys), 1)) if metric == "accuracy" else 0.0
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
