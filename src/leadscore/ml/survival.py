"""Time to conversion: a discrete-time competing-risks hazard model on landmark snapshots.

Why this design (no new dependency):

* **Discrete time.** Follow-up after a snapshot is cut into ``n_bins`` bins of
  ``bin_days``; each lead contributes one row per bin it was observed through
  ("person-period" data). A LightGBM multiclass model gives, per bin, the
  probability of winning, of being lost, or of neither. Leads still open are
  right-censored: they contribute the bins they were fully observed for, so
  they count as "not yet converted" without being counted as lost.
* **Competing risks.** Lost leads are not censored (they can no longer convert);
  the chance of converting within *t* days is the cumulative incidence
  ``sum_k S(k) * h_won(k)``, where ``S(k)`` is the chance to be still open at
  the start of bin *k*.
* **Landmarks.** The same lead is also seen at ages 0, 7, 14, 30, 60 and 90
  days (if still open then), with features as of that age and its age as a
  feature. So a prediction for an open lead of any age uses what is known
  *now* and is conditional on it not having converted yet.

The median is the **median time to conversion if the lead converts within
the horizon** (``n_bins * bin_days`` days): the time where the cumulative
incidence reaches half its horizon value. Most leads never convert, so the
unconditional median would almost always be "never"; it is null when the
chance to convert within the horizon is below ``min_probability``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .features import FeatureBuilder
from .features.schema import DEFAULT_NA_VALUES

DAY = pd.Timedelta(days=1)
HORIZONS = (30, 60, 90)


class TimeToConvertModel(BaseEstimator):
    def __init__(self, *, landmarks=(0, 7, 14, 30, 60, 90), bin_days: int = 15, n_bins: int = 12,
                 min_probability: float = 0.02, exclude=(), na_values=DEFAULT_NA_VALUES, n_estimators: int = 150,
                 learning_rate: float = 0.08, num_leaves: int = 15, min_child_samples: int = 100,
                 max_rows: int = 300_000, n_jobs: int = 1, random_state: int = 0):
        self.landmarks = landmarks
        self.bin_days = bin_days
        self.n_bins = n_bins
        self.min_probability = min_probability
        self.exclude = exclude
        self.na_values = na_values
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_rows = max_rows
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, *, duration_days, event):
        """``duration_days``: days from ``created_at`` to closing (or to the end of the data if open).

        ``event``: 1 won, 2 lost, 0 open (censored at ``duration_days``).
        """
        for horizon in HORIZONS:
            if horizon % self.bin_days or horizon > self.bin_days * self.n_bins:
                raise ValueError(f"bin_days={self.bin_days} must divide {HORIZONS} within the horizon")
        leads = leads.reset_index(drop=True)
        duration = np.asarray(duration_days, dtype=float)
        event = np.asarray(event, dtype=int)
        rng = np.random.default_rng(self.random_state)
        # No labels for the builder: target encodings fitted on these rows would leak their outcome.
        self.builder_ = FeatureBuilder(na_values=self.na_values, exclude=self.exclude,
                                       random_state=self.random_state)
        created = pd.to_datetime(leads["created_at"])
        self.builder_.fit(leads, interactions, as_of=(created + 7 * DAY).to_numpy())
        blocks, targets = [], []
        per_landmark = self.max_rows // max(len(self.landmarks), 1)
        for landmark in self.landmarks:
            at_risk = np.flatnonzero(duration > landmark)
            if not len(at_risk):
                continue
            rows, bins, labels = _person_period(duration[at_risk] - landmark, event[at_risk], self.bin_days,
                                                self.n_bins)
            if len(rows) > per_landmark:  # keep whole leads so each history stays intact
                keep = rng.choice(len(at_risk), int(len(at_risk) * per_landmark / len(rows)), replace=False)
                mask = np.isin(rows, keep)
                rows, bins, labels = rows[mask], bins[mask], labels[mask]
            picked = np.unique(rows)
            subset = leads.iloc[at_risk[picked]].reset_index(drop=True)
            X = self.builder_.transform(subset, _only(interactions, subset),
                                        as_of=(created.iloc[at_risk[picked]] + landmark * DAY).to_numpy()).to_numpy()
            position = np.searchsorted(picked, rows)
            blocks.append(np.column_stack([X[position], bins]))
            targets.append(labels)
        if not blocks:
            raise ValueError("no lead is at risk at any landmark")
        X_all, y_all = np.vstack(blocks), np.concatenate(targets)
        if not {0, 1} <= set(np.unique(y_all).tolist()):
            raise ValueError("the survival model needs won leads and periods without a win in the data")
        self.feature_names_ = [*self.builder_.feature_names_, "_bin"]
        self.hazard_ = LGBMClassifier(
            objective="multiclass", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples, subsample=0.8,
            subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, max_bin=63, n_jobs=self.n_jobs,
            random_state=self.random_state, verbose=-1,
        ).fit(X_all, y_all)
        self.n_rows_ = len(y_all)
        self.event_counts_ = {"won": int((event == 1).sum()), "lost": int((event == 2).sum()),
                              "open": int((event == 0).sum())}
        return self

    def cumulative_incidence(self, leads: pd.DataFrame, interactions: pd.DataFrame | None, as_of) -> np.ndarray:
        """(n_leads, n_bins): P(converted by the end of bin k), counted from ``as_of``."""
        check_is_fitted(self, "hazard_")
        leads = leads.reset_index(drop=True)
        X = self.builder_.transform(leads, _only(interactions, leads), as_of=as_of).to_numpy()
        n, k = len(X), self.n_bins
        stacked = np.column_stack([np.repeat(X, k, axis=0), np.tile(np.arange(k), n)])
        proba = np.zeros((n * k, 3))  # a dataset without losses has no class 2: its hazard stays 0
        proba[:, self.hazard_.classes_] = self.hazard_.predict_proba(stacked)
        proba = proba.reshape(n, k, 3)
        won, lost = proba[:, :, 1], proba[:, :, 2]
        still_open = np.cumprod(1.0 - won - lost, axis=1)
        before = np.column_stack([np.ones(n), still_open[:, :-1]])
        return np.cumsum(before * won, axis=1)

    def predict(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        cif = self.cumulative_incidence(leads, interactions, as_of)
        out = {"lead_id": leads["lead_id"].to_numpy()}
        for horizon in HORIZONS:
            out[f"p_convert_{horizon}d"] = cif[:, horizon // self.bin_days - 1]
        out["median_days_to_convert"] = _conditional_median(cif, self.bin_days, self.min_probability)
        return pd.DataFrame(out)


def _person_period(remaining: np.ndarray, event: np.ndarray, width: float, n_bins: int):
    """Rows (lead index, bin, label) for follow-up ``remaining`` days after a landmark.

    A lead contributes every bin it was fully observed through, plus the bin
    its event fell in; a censored lead's last, partly observed bin is dropped
    (counting it as "nothing happened" would bias hazards down).
    """
    full = np.floor(remaining / width).astype(int)
    event_bin = np.minimum(full, n_bins)  # event exactly on a boundary belongs to the next bin
    has_event = (event > 0) & (event_bin < n_bins)
    counts = np.minimum(full, n_bins) + has_event
    rows = np.repeat(np.arange(len(remaining)), counts)
    starts = np.cumsum(counts) - counts
    bins = np.arange(counts.sum()) - np.repeat(starts, counts)
    labels = np.where(has_event[rows] & (bins == event_bin[rows]), event[rows], 0)
    return rows, bins, labels


def _conditional_median(cif: np.ndarray, width: float, min_probability: float) -> np.ndarray:
    total = cif[:, -1]
    target = 0.5 * total
    k = (cif < target[:, None]).sum(axis=1)  # first bin reaching the target
    k = np.minimum(k, cif.shape[1] - 1)
    low = np.where(k > 0, cif[np.arange(len(cif)), np.maximum(k - 1, 0)], 0.0)
    high = cif[np.arange(len(cif)), k]
    share = np.where(high > low, (target - low) / np.maximum(high - low, 1e-12), 0.0)
    days = (k + np.clip(share, 0.0, 1.0)) * width
    return np.where(total >= min_probability, days, np.nan)


def _only(interactions: pd.DataFrame | None, leads: pd.DataFrame) -> pd.DataFrame | None:
    if interactions is None or not len(interactions):
        return None
    return interactions[interactions["lead_id"].isin(leads["lead_id"])]


def evaluate_time_model(model: TimeToConvertModel, leads: pd.DataFrame, interactions: pd.DataFrame | None, *,
                        duration_days, event, follow_up_days=None, landmark: float = 7.0) -> dict:
    """Held-out check at one landmark: Harrell's C of P(90 d) and the calibration of P(30 d).

    Leads are taken at ``landmark`` days of age if still open then. For the
    C-index a loss or censoring only ever makes a lead the "later" member of
    a pair (cause-specific C). For P(30 d) only leads observed for 30 days
    after the landmark are used: ``follow_up_days`` (creation to the end of the
    data) decides, not the outcome, which would favour early closers; without
    it, closed leads count too.
    """
    from .forecast import concordance_index

    leads = leads.reset_index(drop=True)
    duration = np.asarray(duration_days, dtype=float)
    event = np.asarray(event, dtype=int)
    at_risk = np.flatnonzero(duration > landmark)
    if len(at_risk) < 10:
        return {"n": len(at_risk), "landmark_days": landmark}
    subset = leads.iloc[at_risk].reset_index(drop=True)
    at = (pd.to_datetime(subset["created_at"]) + landmark * DAY).to_numpy()
    predicted = model.predict(subset, interactions, as_of=at)
    remaining, ev = duration[at_risk] - landmark, event[at_risk]
    c_index = concordance_index(remaining, predicted["p_convert_90d"].to_numpy(), ev == 1)
    if follow_up_days is not None:
        known = np.asarray(follow_up_days, dtype=float)[at_risk] - landmark >= 30
    else:
        known = (ev > 0) | (remaining >= 30)
    p30 = predicted["p_convert_30d"].to_numpy()[known]
    y30 = ((ev == 1) & (remaining <= 30))[known].astype(float)
    ece = float("nan")
    if len(p30):
        edges = np.quantile(p30, np.linspace(0, 1, 11))
        group = np.clip(np.searchsorted(edges, p30, side="right") - 1, 0, 9)
        ece = float(sum(abs(p30[group == g].mean() - y30[group == g].mean()) * (group == g).mean()
                        for g in range(10) if (group == g).any()))
    return {
        "landmark_days": landmark,
        "n": len(at_risk),
        "events": int((ev == 1).sum()),
        "c_index": c_index,
        "p30_n": int(known.sum()),
        "p30_mean_predicted": float(p30.mean()) if len(p30) else None,
        "p30_observed": float(y30.mean()) if len(p30) else None,
        "p30_ece": ece,
    }
