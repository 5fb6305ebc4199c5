"""leadscore.ml: the pure ML core (no HTTP, no database).

Everything here takes and returns pandas/numpy objects and plain Python
values, so it runs the same in a notebook, a worker or Dask. Estimators follow
scikit-learn conventions (``__init__`` stores parameters, ``fit`` returns
``self``, learned attributes end in ``_``).

Public API (names are stable)::

    FeatureBuilder(na_values=..., exclude=(), ...)
        .fit(leads, interactions=None, y=None, as_of=None) -> self
        .fit_transform(leads, interactions=None, y=None, as_of=None) -> DataFrame  # out-of-fold target encodings
        .transform(leads, interactions=None, as_of=None) -> DataFrame[float]
        .transform_one(lead: dict, interactions: list[dict], as_of) -> ndarray (1, n_features)
        .feature_names_, .feature_specs_, .excluded_columns_ ({column: reason})
        .describe(name, value) -> str            # "Viewed 14 listings in the last 7 days"

    TrainingConfig(seed=0, min_positive=40, min_negative=40, leakage_override=(), exclude=(),
                   na_values=..., valid_fraction=0.2, cv_folds=5, n_estimators=3000,
                   early_stopping_rounds=100, calibration="auto", threshold_metric="accuracy", ...)
    train_conversion_model(leads, y, interactions=None, *, closed_at=None, as_of=None,
                           config=TrainingConfig(), progress=None) -> ConversionModel
        # progress(step: str, fraction: float); falls back to the rules model below the minimum data

    ConversionModel  (picklable)
        .predict_proba(leads, interactions=None, as_of=None) -> ndarray (n, 2)
        .score(leads, interactions=None, as_of=None) -> DataFrame
              [lead_id, probability, score, grade, base_score, top_positive, top_negative]
        .score_one(lead: dict, interactions: list[dict] = (), as_of=None) -> ScoreResult
              (probability, score, grade, base_score, contributions, top_positive, top_negative;
               reasons are {"feature", "sentence", "points"})
        .points(leads, ...) -> DataFrame of per-feature points (rows sum to score - base_score)
        .metadata (dict), .evaluation (EvaluationReport), .kind ("gam" | "rules")

    evaluate(model, leads, y, interactions=None, as_of=None) -> EvaluationReport (.to_dict(), .table())
    format_report(report) -> str
    RulesModel.from_file(path) / RulesModel.default()     # TOML rules, default_rules.toml ships here
    LeakageGuard(auc_threshold=0.95, purity=0.95, min_coverage=0.3, override=()).fit(leads, y, closed_at)
    population_stability_index(reference, current, ...) -> float
    drift_report(reference_frame, current_frame, ...) -> DriftReport
    realised_performance(scores, outcomes, dates, freq="MS") -> DataFrame
    fairness.protected_reason(column) / split_protected(columns)

Scores: score = 100 × calibrated probability; grades A ≥ 60, B ≥ 35, C ≥ 15,
else D (``explain.GRADE_CUTOFFS``). Reasons are exact per-feature
contributions of a boosted GAM (``gam.py``) turned into points that add up to
``score − base_score`` (``explain.py``).
"""

from .calibration import Calibrator
from .drift import DriftReport, drift_report, population_stability_index, realised_performance
from .evaluation import EvaluationReport, evaluate, format_report
from .explain import GRADE_CUTOFFS
from .fairness import protected_reason, split_protected
from .features import FeatureBuilder
from .gam import AdditiveBoostingClassifier
from .leakage import LeakageGuard
from .model import ConversionModel, ScoreResult
from .rules import Rule, RulesModel
from .training import TrainingConfig, train_conversion_model

__all__ = [
    "GRADE_CUTOFFS",
    "AdditiveBoostingClassifier",
    "Calibrator",
    "ConversionModel",
    "DriftReport",
    "EvaluationReport",
    "FeatureBuilder",
    "LeakageGuard",
    "Rule",
    "RulesModel",
    "ScoreResult",
    "TrainingConfig",
    "drift_report",
    "evaluate",
    "format_report",
    "population_stability_index",
    "protected_reason",
    "realised_performance",
    "split_protected",
    "train_conversion_model",
]
