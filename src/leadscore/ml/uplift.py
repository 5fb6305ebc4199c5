"""Next best follow-up action (a doubly robust uplift learner) and best contact hour.

``NextActionModel`` learns, from past follow-up actions and their outcomes,
each lead's conversion probability under every action, and recommends the
best action its consent allows. The method is the DR-learner (Kennedy, 2023)
with cross-fitting:

1. nuisance models, each fitted on one half and applied to the other:
   an outcome model ``mu(x, agent, action)`` (LightGBM, the action as a
   category) and a propensity model ``e(action | x, agent)`` (LightGBM
   multiclass, restricted to consent-allowed actions and clipped);
2. per lead and action the doubly robust pseudo-outcome
   ``mu(x, a) + 1[A = a] (Y - mu(x, a)) / e(a | x)``, unbiased for the
   lead's conversion under ``a`` if either nuisance model is right;
3. one smooth LightGBM regression per action of that pseudo-outcome on the
   lead's features only.

The acting agent enters the nuisance models only: agents differ both in skill
and in habits (which action they pick), so leaving them out would confound
the comparison; the final per-action models do not see the agent, so a
recommendation depends on the lead alone. Protected characteristics and their
proxies never enter (``FeatureBuilder`` drops them, ``fairness.py``).

``ContactHourModel`` picks the hour of day a lead is most often active
(inbound interactions), smoothed with the pattern of similar leads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .features import FeatureBuilder
from .features.schema import DEFAULT_NA_VALUES

ACTIONS = ("call", "text", "email_listings", "book_showing", "open_house_invite", "nurture_email", "re_engage")
# The consent each action needs; book_showing may go by phone or e-mail, re_engage by any channel.
CONSENT = {
    "call": ("consent_phone",),
    "text": ("consent_sms",),
    "email_listings": ("consent_email",),
    "book_showing": ("consent_phone", "consent_email"),
    "open_house_invite": ("consent_email",),
    "nurture_email": ("consent_email",),
    "re_engage": ("consent_phone", "consent_sms", "consent_email"),
}


def allowed_actions(leads: pd.DataFrame, actions=ACTIONS) -> np.ndarray:
    """(n, n_actions) booleans; a missing or unknown consent counts as no consent."""
    def consent(column: str) -> np.ndarray:
        if column not in leads:
            return np.zeros(len(leads), dtype=bool)
        return leads[column].map(lambda v: v is True or v == 1 or str(v).lower() == "true").to_numpy(dtype=bool)

    flags = {c: consent(c) for c in ("consent_phone", "consent_sms", "consent_email")}
    return np.column_stack([np.logical_or.reduce([flags[c] for c in CONSENT[a]]) for a in actions])


def _lgbm(kind, **params):
    base = {"n_jobs": 1, "verbose": -1, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8}
    return kind(**{**base, **params})


class NextActionModel(BaseEstimator):
    def __init__(self, *, actions=ACTIONS, method: str = "s_ipw", folds: int = 2, min_propensity: float = 0.02, exclude=(),
                 na_values=DEFAULT_NA_VALUES, nuisance_estimators: int = 200, final_estimators: int = 150,
                 final_leaves: int = 7, final_min_child_samples: int = 200, random_state: int = 0):
        self.actions = actions
        self.method = method
        self.folds = folds
        self.min_propensity = min_propensity
        self.exclude = exclude
        self.na_values = na_values
        self.nuisance_estimators = nuisance_estimators
        self.final_estimators = final_estimators
        self.final_leaves = final_leaves
        self.final_min_child_samples = final_min_child_samples
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, leads: pd.DataFrame, interactions: pd.DataFrame | None, *, action, acted_at, y, agent=None):
        """One row per lead: the follow-up ``action`` taken at ``acted_at`` by ``agent``, outcome ``y``.

        Features are taken as of ``acted_at`` (strictly before the action).
        """
        leads = leads.reset_index(drop=True)
        codes = pd.Categorical(np.asarray(action, dtype=object), categories=list(self.actions)).codes
        if (codes < 0).any():
            raise ValueError(f"unknown actions: {sorted(set(np.asarray(action, dtype=object)[codes < 0]))}")
        y = np.asarray(y, dtype=int)
        allowed = allowed_actions(leads, self.actions)
        # The action taken was evidently possible, whatever the consent columns say today.
        allowed[np.arange(len(codes)), codes] = True
        self.builder_ = FeatureBuilder(na_values=self.na_values, exclude=self.exclude, random_state=self.random_state)
        X = self.builder_.fit(leads, interactions, as_of=acted_at).transform(leads, interactions, as_of=acted_at)
        X = X.to_numpy()
        counts = np.bincount(codes, minlength=len(self.actions))
        self.action_counts_ = dict(zip(self.actions, counts.tolist(), strict=True))
        self.action_order_ = np.argsort(-counts, kind="stable")  # most common first
        agents = pd.Series(np.asarray(agent if agent is not None else np.full(len(y), None), dtype=object))
        frequent = agents.value_counts()
        self.agent_codes_ = {a: i for i, a in enumerate(frequent[frequent >= 30].index)}
        A = self._agent_codes(agents)
        rng = np.random.default_rng(self.random_state)
        fold = rng.integers(0, self.folds, len(y))
        gamma = np.empty((len(y), len(self.actions)))
        self.nuisance_ = []
        for k in range(self.folds):
            train, test = fold != k, fold == k
            mu, e = self._fit_nuisance(X[train], A[train], codes[train], y[train])
            self.nuisance_.append((mu, e))
            gamma[test] = self._pseudo_outcomes(mu, e, X[test], A[test], codes[test], y[test], allowed[test])
        if self.method not in ("s_ipw", "dr"):
            raise ValueError(f"method must be 's_ipw' or 'dr', not {self.method!r}")
        self.final_ = []
        for j in range(len(self.actions) if self.method == "dr" else 0):
            rows = allowed[:, j]
            model = None
            if rows.sum() >= 50:
                model = _lgbm(LGBMRegressor, n_estimators=self.final_estimators, learning_rate=0.05,
                              num_leaves=self.final_leaves, min_child_samples=self.final_min_child_samples,
                              random_state=self.random_state + j).fit(X[rows], gamma[rows, j])
            self.final_.append(model)
        self.base_rate_ = float(y.mean())
        self.n_train_ = len(y)
        self.feature_names_ = list(self.builder_.feature_names_)
        return self

    def _agent_codes(self, agents: pd.Series) -> np.ndarray:
        return agents.map(lambda a: self.agent_codes_.get(a, -1)).to_numpy(dtype=float)

    def _fit_nuisance(self, X, A, codes, y):
        e = _lgbm(LGBMClassifier, n_estimators=self.nuisance_estimators,  # binary or multiclass by the data
                  learning_rate=0.05, num_leaves=15, min_child_samples=50, random_state=self.random_state)
        e.fit(np.column_stack([X, A]), codes, categorical_feature=[X.shape[1]])
        e.action_index_ = np.asarray(e.classes_)
        # Stabilised inverse-propensity weights: each action's leads are reweighted to look like
        # all leads, so the outcome model compares actions on the same kind of leads (clipped
        # so a few unlikely choices cannot dominate).
        p = e.predict_proba(np.column_stack([X, A]))[np.arange(len(codes)), np.searchsorted(e.classes_, codes)]
        marginal = np.bincount(codes, minlength=len(self.actions))[codes] / len(codes)
        weight = np.clip(marginal / np.maximum(p, 1e-6), 0.2, 5.0)
        mu = _lgbm(LGBMClassifier, n_estimators=self.nuisance_estimators, learning_rate=0.05, num_leaves=15,
                   min_child_samples=50, random_state=self.random_state)
        mu.fit(np.column_stack([X, A, codes]), y, sample_weight=weight,
               categorical_feature=[X.shape[1], X.shape[1] + 1])
        return mu, e

    def _nuisance_predictions(self, mu, e, X, A, allowed):
        n, k = len(X), len(self.actions)
        stacked = np.column_stack([np.repeat(X, k, axis=0), np.repeat(A, k), np.tile(np.arange(k), n)])
        m = mu.predict_proba(stacked)[:, 1].reshape(n, k)
        p = np.zeros((n, k))
        p[:, e.action_index_] = e.predict_proba(np.column_stack([X, A]))
        p = np.where(allowed, p, 0.0)
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        return m, np.maximum(p, self.min_propensity)

    def _pseudo_outcomes(self, mu, e, X, A, codes, y, allowed):
        m, p = self._nuisance_predictions(mu, e, X, A, allowed)
        taken = np.zeros_like(m, dtype=bool)
        taken[np.arange(len(codes)), codes] = True
        return m + taken * (y[:, None] - m) / p

    # -------------------------------------------------------------- predict
    def action_values(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> np.ndarray:
        """(n, n_actions): estimated conversion probability under each action; NaN where not allowed."""
        check_is_fitted(self, "final_")
        leads = leads.reset_index(drop=True)
        if interactions is not None and len(interactions):
            interactions = interactions[interactions["lead_id"].isin(leads["lead_id"])]
        X = self.builder_.transform(leads, interactions, as_of=as_of).to_numpy()
        allowed = allowed_actions(leads, self.actions)
        if self.method == "dr":
            values = np.column_stack([m.predict(X) if m is not None else np.full(len(X), np.nan)
                                      for m in self.final_])
        else:
            # The agent is unknown to the recommendation on purpose (it depends on the lead alone).
            unknown = np.full(len(X), -1.0)
            values = np.mean([self._nuisance_predictions(mu, e, X, unknown, allowed)[0]
                              for mu, e in self.nuisance_], axis=0)
        return np.where(allowed, np.clip(values, 0.0, 1.0), np.nan)

    def recommend(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best allowed action index (-1: none allowed) and each lead's baseline: its most common allowed action."""
        best = np.where(np.isnan(values).all(axis=1), -1, np.argmax(np.nan_to_num(values, nan=-np.inf), axis=1))
        ordered = ~np.isnan(values[:, self.action_order_])
        first = np.argmax(ordered, axis=1)
        baseline = np.where(ordered.any(axis=1), self.action_order_[first], -1)
        return best, baseline

    def predict(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        values = self.action_values(leads, interactions, as_of)
        best, baseline = self.recommend(values)
        rows = np.arange(len(values))
        names = np.array([*self.actions, None], dtype=object)
        p_best = np.where(best >= 0, values[rows, best], np.nan)
        p_base = np.where(baseline >= 0, values[rows, baseline], np.nan)
        return pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "next_action": names[best],
                             "next_action_probability": p_best, "baseline_action": names[baseline],
                             "next_action_uplift": p_best - p_base})


def policy_values(model: NextActionModel, leads: pd.DataFrame, interactions: pd.DataFrame | None, *, action,
                  acted_at, y, agent=None, seed: int = 0) -> dict:
    """Doubly robust off-policy estimates, on held-out leads, of conversion under three policies.

    The recommended policy, "always the most common allowed action" and a
    uniformly random allowed action, each scored with the pseudo-outcomes of
    the model's own nuisance models (averaged over folds). Needs no truth.
    """
    leads = leads.reset_index(drop=True)
    codes = pd.Categorical(np.asarray(action, dtype=object), categories=list(model.actions)).codes
    keep = codes >= 0
    leads, codes, y = leads[keep].reset_index(drop=True), codes[keep], np.asarray(y, dtype=int)[keep]
    acted_at = np.asarray(acted_at)[keep]
    agents = pd.Series(np.asarray(agent if agent is not None else np.full(len(keep), None), dtype=object)[keep])
    if interactions is not None and len(interactions):
        interactions = interactions[interactions["lead_id"].isin(leads["lead_id"])]
    values = model.action_values(leads, interactions, as_of=acted_at)
    allowed = ~np.isnan(values)
    allowed[np.arange(len(codes)), codes] = True
    X = model.builder_.transform(leads, interactions, as_of=acted_at).to_numpy()
    A = model._agent_codes(agents)
    gamma = np.mean([model._pseudo_outcomes(mu, e, X, A, codes, y, allowed) for mu, e in model.nuisance_], axis=0)
    best, baseline = model.recommend(np.where(allowed, np.nan_to_num(values, nan=-1.0), np.nan))
    rows = np.arange(len(y))
    random_value = np.nanmean(np.where(allowed, gamma, np.nan), axis=1)
    return {
        "n": len(y),
        "observed_rate": float(y.mean()) if len(y) else None,
        "policy_value": float(gamma[rows, best].mean()) if len(y) else None,
        "most_common_value": float(gamma[rows, baseline].mean()) if len(y) else None,
        "random_value": float(random_value.mean()) if len(y) else None,
        "mean_estimated_uplift": float(np.nanmean(values[rows, best] - values[rows, baseline])) if len(y) else None,
        "recommended_share": {a: float(np.mean(best == j)) for j, a in enumerate(model.actions)},
    }


class ContactHourModel(BaseEstimator):
    """Best hour to reach a lead: its own inbound-activity hours, shrunk towards its segment's.

    Per lead, a histogram of the local hours of its inbound interactions plus
    ``prior_strength`` pseudo-events spread like the hours of leads of the same
    segment (``segment_columns``, e.g. source and intent), smoothed over
    neighbouring hours; the best hour inside the contact ``window`` wins. A
    lead with no activity gets its segment's best hour. Hours are local to
    ``timezone`` (an IANA name).
    """

    def __init__(self, *, timezone: str = "UTC", window=(8, 20), prior_strength: float = 5.0,
                 segment_columns=("source", "intent"), min_segment_events: int = 200):
        self.timezone = timezone
        self.window = window
        self.prior_strength = prior_strength
        self.segment_columns = segment_columns
        self.min_segment_events = min_segment_events

    def _hours(self, occurred) -> np.ndarray:
        when = pd.to_datetime(pd.Series(occurred)).dt.tz_localize("UTC").dt.tz_convert(self.timezone)
        return when.dt.hour.to_numpy()

    def _segments(self, leads: pd.DataFrame) -> pd.Series:
        parts = [leads[c].astype(str) if c in leads else pd.Series("", index=leads.index) for c in self.segment_columns]
        return pd.Series(["|".join(t) for t in zip(*parts, strict=True)], index=leads.index) if parts else \
            pd.Series("", index=leads.index)

    def _lead_histograms(self, leads: pd.DataFrame, interactions: pd.DataFrame | None, as_of=None) -> np.ndarray:
        counts = np.zeros((len(leads), 24))
        if interactions is None or not len(interactions):
            return counts
        inbound = interactions[interactions["direction"] == "inbound"]
        if as_of is not None:
            cutoff = pd.Series(np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"), (len(leads),)),
                               index=leads["lead_id"].to_numpy())
            inbound = inbound[inbound["occurred_at"].to_numpy() < cutoff.reindex(inbound["lead_id"]).to_numpy()]
        row = pd.Index(leads["lead_id"].to_numpy()).get_indexer(inbound["lead_id"].to_numpy())
        ok = row >= 0
        np.add.at(counts, (row[ok], self._hours(inbound["occurred_at"].to_numpy()[ok])), 1.0)
        return counts

    def fit(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None):
        leads = leads.reset_index(drop=True)
        counts = self._lead_histograms(leads, interactions)
        segments = self._segments(leads)
        overall = counts.sum(axis=0) + 1.0
        self.overall_ = overall / overall.sum()
        self.segment_priors_ = {}
        for name, index in segments.groupby(segments).groups.items():
            total = counts[np.asarray(index)].sum(axis=0)
            if total.sum() >= self.min_segment_events:
                self.segment_priors_[name] = (total + 1.0) / (total + 1.0).sum()
        return self

    def predict(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> np.ndarray:
        check_is_fitted(self, "overall_")
        leads = leads.reset_index(drop=True)
        counts = self._lead_histograms(leads, interactions, as_of)
        prior = np.vstack([self.segment_priors_.get(s, self.overall_) for s in self._segments(leads)]) \
            if len(leads) else np.zeros((0, 24))
        posterior = counts + self.prior_strength * prior
        smooth = 0.5 * posterior + 0.25 * np.roll(posterior, 1, axis=1) + 0.25 * np.roll(posterior, -1, axis=1)
        start, end = self.window
        mask = np.zeros(24, dtype=bool)
        mask[start : end + 1] = True
        return np.argmax(np.where(mask, smooth, -np.inf), axis=1)


@dataclass
class Recommender:
    """What a ``next_action`` model version stores: the action model and the contact-hour model."""

    actions: NextActionModel
    hours: ContactHourModel

    def predict(self, leads: pd.DataFrame, interactions: pd.DataFrame | None = None, as_of=None) -> pd.DataFrame:
        out = self.actions.predict(leads, interactions, as_of)
        out["best_contact_hour"] = self.hours.predict(leads, interactions, as_of)
        return out
