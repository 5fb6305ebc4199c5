"""Training: ``train_conversion_model`` → a calibrated, explainable ``ConversionModel``.

Procedure (all seeded by ``TrainingConfig.seed``):

1. Leakage guard on the raw lead columns (``leakage.py``); flagged columns are
   excluded unless named in ``leakage_override``. Protected columns are
   dropped by the feature builder (``fairness.py``), whatever the config says.
2. Fewer than ``min_positive`` converted or ``min_negative`` other leads →
   the rules model (``rules.py``) is returned instead, and the metadata says so.
3. Time-aware split: the newest ``valid_fraction`` of leads (by
   ``created_at``) is the holdout; without ``created_at``, a stratified random
   holdout.
4. Stratified k-fold CV on the older part: each fold fits the feature builder
   (out-of-fold target encoding) and the boosted GA²M (``gam.py``: one feature
   per tree plus ``interaction_pairs`` feature pairs screened on that fold's
   training rows); yields out-of-fold scores. With outer bags (``outer_bags``,
   by default ``gam.outer_bag_count``: 14 up to 14,285 leads) the GA²M is the
   average of several, each early-stopped on its own left-out rows, so the
   fold's held-out rows are never used for stopping and no round count is
   carried over; with one bag, each fold early-stops on its held-out rows and
   the mean round count is used below.
5. A model trained on the whole older part scores the holdout. Its calibrator
   (Platt or isotonic, chosen by CV log loss, ``calibration.py``) and
   threshold come from the out-of-fold scores only, so the holdout report is
   honest. Rules and logistic-regression baselines are fitted on the same
   older part and reported beside it.
6. The final model is refitted on all leads; its calibrator and threshold are
   fitted on all out-of-sample scores (CV + holdout).

Above ``cv_max_rows`` leads, steps 4-6 shrink to one model trained on the
older part with early stopping on the holdout (every bag stops on it), calibrated by cross-fitting on
the holdout (k-fold CV on millions of leads buys nothing but time).

Class imbalance is handled by calibrated probabilities plus a threshold
chosen on held-out predictions (max accuracy or F1, bagged: ``choose_threshold``),
not by re-weighting: measured on Olist (10.5 % converted), sqrt re-weighting
(``class_weight="auto"``) cost 0.009 ROC AUC and raised ECE from 0.012 to
0.046 in 5-fold CV. ``class_weight="auto"`` / ``"balanced"`` remain available.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from .baselines import fit_logistic
from .calibration import Calibrator
from .evaluation import evaluate
from .explain import GRADE_CUTOFFS
from .features import FeatureBuilder
from .features.schema import CREATED_AT, DEFAULT_NA_VALUES, NAT, as_of_ns, column_ns
from .gam import AdditiveBoostingClassifier, outer_bag_count
from .leakage import LeakageGuard
from .metrics import binary_metrics, choose_threshold
from .model import ConversionModel
from .provenance import training_metadata
from .rules import RulesModel

Progress = Callable[[str, float], None]


@dataclass
class TrainingConfig:
    """Everything that shapes training; stored in the artifact's metadata."""

    seed: int = 0
    min_positive: int = 40
    min_negative: int = 40
    leakage_override: Sequence[str] = ()  # keep these even if the leakage guard flags them
    exclude: Sequence[str] = ()  # never use these columns
    na_values: Sequence[str] = DEFAULT_NA_VALUES
    valid_fraction: float = 0.2  # newest leads held out for the time-aware report
    cv_folds: int = 5
    cv_max_rows: int = 200_000
    n_estimators: int = 3000  # upper bound; early stopping picks the number
    early_stopping_rounds: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 8
    min_child_samples: int = 20
    reg_lambda: float = 1.0
    # GA²M: up to this many screened feature pairs get a 2-D term (gam.py); several values = chosen by the
    # out-of-fold ROC AUC of the CV on the training data (the first one above cv_max_rows, where there is no CV)
    interaction_pairs: int | tuple[int, ...] = (8, 16)
    # outer bags averaged into one GA²M (gam.py); None = by data size (gam.outer_bag_count: 14 up to 14,285)
    outer_bags: int | None = None
    class_weight: str | None = None  # None, "auto" (sqrt re-weighting below 20 % positives) or "balanced"
    calibration: str = "auto"  # "auto", "sigmoid" or "isotonic"
    threshold_metric: str = "accuracy"  # "accuracy" or "f1"
    grade_cutoffs: Sequence[tuple[str, float]] = GRADE_CUTOFFS
    rules_path: str | None = None  # TOML rules file; None = the shipped default
    snapshot_days: float | None = 7.0  # features as of created_at + N days (capped at closed_at / data end)
    max_categories: int = 50
    min_category_count: int = 20
    target_smoothing: float = 20.0
    n_jobs: int = 2
    baselines: bool = True


def train_conversion_model(leads: pd.DataFrame, y, interactions: pd.DataFrame | None = None, *,
                           closed_at=None, as_of=None, config: TrainingConfig | None = None,
                           progress: Progress | None = None) -> ConversionModel:
    """Train (or fall back to rules) and return a picklable ``ConversionModel``.

    ``as_of``: when features are taken, one timestamp or one per lead. By
    default each lead is seen ``snapshot_days`` (7) after its ``created_at``,
    or just before its ``closed_at`` if it closed sooner, and never after the
    end of the data. A snapshot time that does not depend on the outcome
    matters: seeing won leads at their closing date and the others at the end
    of the data would teach the model "young lead = won" (a leak through lead
    age and recency). Leads without ``created_at`` are seen at the end of the
    data. ``progress(step, fraction)`` is called as work advances.
    """
    cfg = config or TrainingConfig()
    report = progress or (lambda step, fraction: None)
    started = time.time()
    leads = leads.reset_index(drop=True)
    y = np.asarray(y, dtype=int).ravel()
    if len(y) != len(leads):
        raise ValueError(f"{len(leads)} leads but {len(y)} labels")
    closed = None if closed_at is None else pd.Series(closed_at).reset_index(drop=True)
    at = _as_of(leads, interactions, closed, as_of, cfg)
    report("checking for leakage", 0.02)
    guard = LeakageGuard(override=tuple(cfg.leakage_override), na_values=tuple(cfg.na_values),
                         random_state=cfg.seed).fit(leads, y, closed)
    exclude = tuple(cfg.exclude) + tuple(guard.excluded_)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    meta = training_metadata(leads, interactions, y, at, cfg, guard)
    rules = RulesModel.from_file(cfg.rules_path) if cfg.rules_path else RulesModel.default()
    rules.set_params(na_values=tuple(cfg.na_values))

    def builder() -> FeatureBuilder:
        return FeatureBuilder(na_values=tuple(cfg.na_values), exclude=exclude, max_categories=cfg.max_categories,
                              min_category_count=cfg.min_category_count, target_smoothing=cfg.target_smoothing,
                              random_state=cfg.seed)

    if n_pos < cfg.min_positive or n_neg < cfg.min_negative:
        report("too little data: using the rules model", 0.5)
        fb = builder().fit(leads, interactions, as_of=at)
        rules.fit(leads, interactions, as_of=at, builder=fb)
        meta.update(model_kind="rules", feature_names=list(fb.feature_names_),
                    excluded_columns=dict(fb.excluded_columns_),
                    fallback_reason=(f"{n_pos} converted / {n_neg} not converted leads; training needs at least "
                                     f"{cfg.min_positive} / {cfg.min_negative}: scoring with the rules model"),
                    training_seconds=round(time.time() - started, 3))
        report("done", 1.0)
        return ConversionModel("rules", fb, rules=rules, grade_cutoffs=cfg.grade_cutoffs, metadata=meta)

    old, new, split_name = _holdout_split(leads, y, cfg)
    weight = _pos_weight(y, cfg.class_weight)

    candidates = _pair_candidates(cfg.interaction_pairs)
    chosen = {"pairs": candidates[0], "cv_roc_auc": {}}
    n_bags = outer_bag_count(len(leads)) if cfg.outer_bags is None else max(1, int(cfg.outer_bags))
    # bagged: every bag early-stops on its own left-out rows, so no round count is carried over from the CV
    bagged = n_bags > 1

    def gam(**kw) -> AdditiveBoostingClassifier:
        return AdditiveBoostingClassifier(
            n_estimators=kw.get("n_estimators", cfg.n_estimators), learning_rate=cfg.learning_rate,
            num_leaves=cfg.num_leaves, min_child_samples=cfg.min_child_samples, reg_lambda=cfg.reg_lambda,
            early_stopping_rounds=cfg.early_stopping_rounds, scale_pos_weight=weight, n_jobs=cfg.n_jobs,
            max_pairs=kw.get("max_pairs", chosen["pairs"]), n_bags=n_bags, random_state=cfg.seed)

    def subset(rows):
        ix = interactions
        if ix is not None and "lead_id" in leads:
            ix = ix[ix["lead_id"].isin(leads["lead_id"].to_numpy()[rows])]
        return leads.iloc[rows].reset_index(drop=True), ix, at[rows], y[rows]

    L_old, I_old, at_old, y_old = subset(old)
    L_new, I_new, at_new, y_new = subset(new)
    large = len(leads) > cfg.cv_max_rows
    cv_metrics = None
    if not large:
        iters = {c: [] for c in candidates}
        fold_models = {c: [] for c in candidates}
        skf = StratifiedKFold(cfg.cv_folds, shuffle=True, random_state=cfg.seed)
        for k, (tr, te) in enumerate(skf.split(np.zeros(len(y_old)), y_old)):
            report(f"cross-validation fold {k + 1}/{cfg.cv_folds}", 0.05 + 0.6 * k / cfg.cv_folds)
            Lt, It, att, yt = _rows(L_old, I_old, at_old, y_old, tr)
            Lv, Iv, atv, yv = _rows(L_old, I_old, at_old, y_old, te)
            fb = builder()
            Xt = fb.fit_transform(Lt, It, yt, as_of=att)
            Xv = fb.transform(Lv, Iv, as_of=atv)
            for c in candidates:  # same folds and features for every candidate pair count
                m = gam(max_pairs=c).fit(Xt.to_numpy(), yt, eval_set=None if bagged else (Xv.to_numpy(), yv),
                                         categorical_features=fb.categorical_features_)
                fold_models[c].append((te, Xv.to_numpy(), m))
                iters[c] += m.bag_iterations_
        oofs, rounds = {}, {}
        for c in candidates:
            rounds[c] = max(10, int(np.mean(iters[c])))
            oofs[c] = np.empty(len(old))
            for te, Xv_, m in fold_models[c]:
                if bagged:  # the fold's own model as it is: its bags never saw the fold's held-out rows
                    oofs[c][te] = m.decision_function(Xv_)
                else:  # at the *common* round count that the final model will use, so the calibrator sees
                    # the same score scale (fold models stopped at different rounds)
                    oofs[c][te] = m.booster_.predict(Xv_, raw_score=True,
                                                     num_iteration=min(rounds[c], m.booster_.current_iteration()))
            chosen["cv_roc_auc"][c] = float(roc_auc_score(y_old, oofs[c]))
        # best out-of-fold ROC AUC; a tie goes to fewer pairs
        chosen["pairs"] = max(candidates, key=lambda c: (round(chosen["cv_roc_auc"][c], 6), -c))
        oof, n_iter = oofs[chosen["pairs"]], rounds[chosen["pairs"]]
        report("holdout model", 0.7)
        fb_old = builder()
        X_old = fb_old.fit_transform(L_old, I_old, y_old, as_of=at_old)
        X_new = fb_old.transform(L_new, I_new, as_of=at_new)
        m_old = gam(n_estimators=cfg.n_estimators if bagged else n_iter).fit(
            X_old.to_numpy(), y_old, categorical_features=fb_old.categorical_features_)
        cal_old = Calibrator(cfg.calibration, random_state=cfg.seed).fit(oof, y_old)
        thr_old = choose_threshold(y_old, cal_old.transform(oof), cfg.threshold_metric)
        cv_metrics = _cross_fitted_metrics(oof, y_old, cfg)
    else:
        report("holdout model (large data: no CV)", 0.1)
        fb_old = builder()
        X_old = fb_old.fit_transform(L_old, I_old, y_old, as_of=at_old)
        X_new = fb_old.transform(L_new, I_new, as_of=at_new)
        m_old = gam().fit(X_old.to_numpy(), y_old, eval_set=(X_new.to_numpy(), y_new),
                          categorical_features=fb_old.categorical_features_)
        n_iter = int(np.mean(m_old.bag_iterations_))
        raw_new = m_old.decision_function(X_new.to_numpy())
        cal_old = Calibrator(cfg.calibration, random_state=cfg.seed).fit(raw_new, y_new)
        thr_old = choose_threshold(y_new, cal_old.transform(raw_new), cfg.threshold_metric)

    report("baselines", 0.75)
    thresholds = {}
    lr = rules_old = None
    if cfg.baselines:
        rules_old = RulesModel(rules=rules.rules, base=rules.base, na_values=tuple(cfg.na_values)).fit(
            L_old, I_old, y_old, as_of=at_old, builder=fb_old)
        p_rules = rules_old.predict_proba(L_old, features=X_old)[:, 1]
        lr = fit_logistic(X_old.to_numpy(), y_old, fb_old.categorical_features_, cfg.seed)
        p_lr = lr.predict_proba(np.where(np.isinf(X_old.to_numpy()), np.nan, X_old.to_numpy()))[:, 1]
        thresholds = {"rules": choose_threshold(y_old, p_rules, cfg.threshold_metric),
                      "logistic_regression": choose_threshold(y_old, p_lr, cfg.threshold_metric)}
    holdout_model = ConversionModel("gam", fb_old, m_old, cal_old, rules_old, lr, thr_old, cfg.grade_cutoffs,
                                    metadata={"baseline_thresholds": thresholds})
    if large:  # calibrated on the holdout itself: report cross-fitted metrics instead
        evaluation = evaluate(holdout_model, L_new, y_new, I_new, as_of=at_new, split=split_name)
        evaluation.model = _cross_fitted_metrics(raw_new, y_new, cfg, threshold=thr_old)
        evaluation.notes.append("large data: model metrics use a calibrator cross-fitted on the holdout")
    else:
        evaluation = evaluate(holdout_model, L_new, y_new, I_new, as_of=at_new, split=split_name)
    evaluation.cross_validation = cv_metrics

    if large:
        final_fb, final_m, raw_all, y_all = fb_old, m_old, raw_new, y_new
    else:
        report("final model on all leads", 0.85)
        final_fb = builder()
        X_all = final_fb.fit_transform(leads, interactions, y, as_of=at)
        final_m = gam(n_estimators=cfg.n_estimators if bagged else n_iter).fit(
            X_all.to_numpy(), y, categorical_features=final_fb.categorical_features_)
        if bagged:
            n_iter = int(np.mean(final_m.bag_iterations_))
        raw_new = m_old.decision_function(X_new.to_numpy())
        raw_all, y_all = np.concatenate([oof, raw_new]), np.concatenate([y_old, y_new])
    calibrator = Calibrator(cfg.calibration, random_state=cfg.seed).fit(raw_all, y_all)
    threshold = choose_threshold(y_all, calibrator.transform(raw_all), cfg.threshold_metric)
    meta.update(
        model_kind="gam", fallback_reason=None, feature_names=list(final_fb.feature_names_),
        excluded_columns=dict(final_fb.excluded_columns_), best_iteration=int(n_iter),
        outer_bags=n_bags, bag_iterations=[int(v) for v in final_m.bag_iterations_],
        params=final_m.lgb_params(len(final_fb.feature_names_)) | {"interaction_constraints": _groups_text(
            final_m, final_fb.feature_names_)},
        interaction_pairs=[[final_fb.feature_names_[a], final_fb.feature_names_[b]] for a, b in final_m.pairs_],
        interaction_pairs_choice={"max_pairs": chosen["pairs"], "cv_roc_auc": {str(k): v for k, v in
                                                                              chosen["cv_roc_auc"].items()}},
        calibration=calibrator.method_, calibration_cv_log_loss=calibrator.cv_log_loss_, threshold=threshold,
        threshold_metric=cfg.threshold_metric, baseline_thresholds=thresholds, split=split_name,
        metrics={"holdout": evaluation.model, "cross_validation": cv_metrics},
        training_seconds=round(time.time() - started, 3))
    model = ConversionModel("gam", final_fb, final_m, calibrator, rules_old, lr, threshold, cfg.grade_cutoffs,
                            metadata=meta, evaluation=evaluation)
    report("done", 1.0)
    return model


# ----------------------------------------------------------------- helpers
def _pair_candidates(value) -> tuple[int, ...]:
    values = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not values or any(int(v) < 0 for v in values):
        raise ValueError(f"interaction_pairs must be a count or counts >= 0, got {value!r}")
    return tuple(dict.fromkeys(int(v) for v in values))


def _groups_text(model: AdditiveBoostingClassifier, names) -> str:
    pairs = [f"{names[a]} × {names[b]}" for a, b in model.pairs_]
    return "one feature per tree" + (f", except pairs: {'; '.join(pairs)}" if pairs else "")


def _rows(L, I, at, y, rows):
    Ls = L.iloc[rows].reset_index(drop=True)
    Is = I
    if I is not None and "lead_id" in L:
        Is = I[I["lead_id"].isin(Ls["lead_id"].to_numpy())]
    return Ls, Is, at[rows], y[rows]


def _as_of(leads, interactions, closed, as_of, cfg) -> np.ndarray:
    n = len(leads)
    if as_of is not None:
        return as_of_ns(as_of, n)
    na = frozenset(str(v).strip().lower() for v in cfg.na_values)
    ends = []
    created = column_ns(leads[CREATED_AT], na) if CREATED_AT in leads else np.full(n, NAT, dtype=np.int64)
    if (created != NAT).any():
        ends.append(int(created[created != NAT].max()))
    if interactions is not None and "occurred_at" in interactions and len(interactions):
        t = column_ns(interactions["occurred_at"], na)
        if (t != NAT).any():
            ends.append(int(t[t != NAT].max()))
    for col in leads.columns:  # other timestamp columns (e.g. a first-contact date) bound the data too
        if pd.api.types.is_datetime64_any_dtype(leads[col].dtype) and col != CREATED_AT:
            t = column_ns(leads[col], na)
            if (t != NAT).any():
                ends.append(int(t[t != NAT].max()))
    end = (max(ends) + 10**9) if ends else int(pd.Timestamp.now(tz="UTC").tz_localize(None).value)
    at = np.full(n, end, dtype=np.int64)
    if closed is not None:
        c = column_ns(closed, na)
        at = np.where((c != NAT) & (c < at), c, at)
    if cfg.snapshot_days is not None:
        snap = created + int(cfg.snapshot_days * 86_400 * 10**9)
        at = np.where((created != NAT) & (snap < at), snap, at)
    return at


def _holdout_split(leads, y, cfg):
    n = len(leads)
    n_new = max(1, int(round(cfg.valid_fraction * n)))
    if CREATED_AT in leads and leads[CREATED_AT].notna().mean() > 0.9:
        order = np.argsort(column_ns(leads[CREATED_AT], frozenset()), kind="stable")
        old, new = np.sort(order[:-n_new]), np.sort(order[-n_new:])
        if len(np.unique(y[new])) == 2 and np.bincount(y[old]).min() >= cfg.cv_folds:
            return old, new, f"time-aware holdout: newest {cfg.valid_fraction:.0%} of leads by created_at"
    old, new = train_test_split(np.arange(n), test_size=n_new, stratify=y, random_state=cfg.seed)
    return np.sort(old), np.sort(new), f"stratified random holdout ({cfg.valid_fraction:.0%}; no created_at)"


def _pos_weight(y, mode) -> float:
    pos, neg = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    if mode == "balanced":
        return neg / pos
    if mode == "auto" and pos / len(y) < 0.2:
        return float(np.sqrt(neg / pos))
    return 1.0


def _cross_fitted_metrics(raw, y, cfg, threshold=None) -> dict:
    """Metrics of out-of-sample raw scores, each fold calibrated by a calibrator fitted on the others."""
    p = np.empty(len(y))
    folds = max(2, min(cfg.cv_folds, int(np.bincount(y, minlength=2).min())))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed + 1).split(raw, y):
        p[te] = Calibrator(cfg.calibration, random_state=cfg.seed).fit(raw[tr], y[tr]).transform(raw[te])
    thr = threshold if threshold is not None else choose_threshold(y, p, cfg.threshold_metric)
    return binary_metrics(y, p, thr)
