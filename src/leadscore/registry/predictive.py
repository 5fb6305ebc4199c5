"""Train, evaluate and register the predictive models of a dataset (time to convert, deal value, next action).

Runs after the conversion model in ``registry.tasks.run_training_job``; each
kind gets its own ``TrainingJob`` row, so a failure (or "not enough data") is
recorded without touching the conversion model. Training runs with no
transaction open; registering and promoting happen in one short transaction
per kind. Loading the data and the trainers themselves are in
``registry.predictive_training``.

Promotion rule (the conversion model's, per kind, on each model's own
held-out newest leads): a candidate replaces the champion unless it is worse
by more than a tolerance on the kind's key metric —

* ``time_to_convert``: Harrell's C-index (higher is better), tolerance 0.01;
* ``deal_value``: median relative error of P50 (lower is better), tolerance
  0.01, and the P10–P90 coverage must lie within 0.80 ± 0.10 at all;
* ``next_action``: doubly robust estimate of the recommended policy's
  conversion rate (higher is better), tolerance 0.005.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope, utcnow
from leadscore.core.errors import LeadscoreError
from leadscore.registry import service
from leadscore.registry.artifacts import Artifact
from leadscore.registry.models import TrainingJob
from leadscore.registry.predictive_training import (
    TRAINERS,
    PredictiveConfig,
    PredictiveData,
    Trained,
    load_predictive_data,
)

log = logging.getLogger(__name__)

KINDS = ("time_to_convert", "deal_value", "next_action")
RULES = {  # kind: (metric, higher is better, tolerance)
    "time_to_convert": ("c_index", True, 0.01),
    "deal_value": ("median_relative_error", False, 0.01),
    "next_action": ("policy_value", True, 0.005),
}
COVERAGE_BAND = (0.70, 0.90)


@dataclass
class KindResult:
    kind: str
    status: str
    job_id: int | None = None
    version_id: int | None = None
    promoted: bool = False
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


def decide(kind: str, candidate: dict[str, Any], champion: dict[str, Any] | None) -> service.PromotionCheck:
    """The promotion rule of the module docstring; both metric dicts are out-of-sample holdout metrics."""
    metric, higher, tolerance = RULES[kind]
    value = candidate.get(metric)
    if kind == "deal_value":
        coverage = candidate.get("coverage")
        if coverage is None or not COVERAGE_BAND[0] <= coverage <= COVERAGE_BAND[1]:
            return service.PromotionCheck(False, "coverage", coverage, None, 0.1,
                                          f"interval coverage {coverage} is outside {COVERAGE_BAND}")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return service.PromotionCheck(False, metric, None, None, tolerance, f"{metric} missing, cannot promote")
    if champion is None or champion.get(metric) is None:
        return service.PromotionCheck(True, metric, value, None, tolerance, "no champion yet")
    reference = champion[metric]
    worse_by = (reference - value) if higher else (value - reference)
    if worse_by > tolerance:
        return service.PromotionCheck(False, metric, value, reference, tolerance,
                                      f"{metric} {value:.4f} is worse than the champion's {reference:.4f} "
                                      f"by more than {tolerance}")
    return service.PromotionCheck(True, metric, value, reference, tolerance,
                                  f"{metric} {value:.4f} vs champion {reference:.4f} (tolerance {tolerance})")


def register_trained(session: Session, trained: Trained, dataset: str, *, auto_promote: bool, actor: str,
                     trigger: str) -> tuple[int, bool, str]:
    champion = service.get_champion(session, kind=trained.kind, dataset=dataset)
    check = decide(trained.kind, trained.metrics, champion.metrics if champion is not None else None)
    import lightgbm
    import sklearn

    version = service.register(
        session, model=Artifact(model=trained.model), kind=trained.kind, dataset=dataset,
        algorithm=trained.algorithm,
        metrics={**trained.metrics, "champion_comparison": {"allowed": check.allowed, "reason": check.reason,
                                                            "metric": check.metric, "tolerance": check.tolerance,
                                                            "champion": check.champion}},
        features=list(getattr(trained.model, "feature_names_", None)
                      or getattr(getattr(trained.model, "actions", None), "feature_names_", []) or []),
        params=trained.params,
        library_versions={"lightgbm": lightgbm.__version__, "scikit-learn": sklearn.__version__},
        data_fingerprint=None, data_start=trained.data_start, data_end=trained.data_end,
        n_train=trained.n_train, n_valid=trained.n_valid, n_positive=trained.n_positive, notes=trained.notes,
    )
    promoted = bool(check.allowed and auto_promote)
    if promoted:
        service.promote(session, version.id, actor=actor, reason=f"{trigger}: {check.reason}")
    return version.id, promoted, check.reason


def run_predictive_jobs(
    sessions: sessionmaker[Session],
    *,
    dataset: str,
    config: PredictiveConfig | None = None,
    kinds: tuple[str, ...] = KINDS,
    trigger: str = "manual",
    actor: str = "system",
    auto_promote: bool = True,
    load: Callable[[Session], PredictiveData] | None = None,
) -> list[KindResult]:
    """Train and register each kind; never raises: every failure ends on its own job row."""
    config = config or PredictiveConfig()
    job_ids: dict[str, int] = {}
    with session_scope(sessions) as session:
        for kind in kinds:
            job = TrainingJob(kind=kind, dataset=dataset, trigger=trigger, status="running", started_at=utcnow(),
                              options={"seed": config.seed, "exclude": list(config.exclude)})
            session.add(job)
            session.flush()
            job_ids[kind] = job.id
    results = []
    try:
        with session_scope(sessions) as session:
            data = (load or (lambda s: load_predictive_data(s, dataset=dataset)))(session)
    except Exception as exc:  # one bad load fails every kind, and is recorded on each
        message = _message(exc, "loading data for the predictive models")
        for kind in kinds:
            _finish(sessions, job_ids[kind], "failed", message)
            results.append(KindResult(kind, "failed", job_ids[kind], message=message))
        return results
    for kind in kinds:
        try:
            trained = TRAINERS[kind](data, config)  # no transaction open while training
            with session_scope(sessions) as session:
                version_id, promoted, reason = register_trained(session, trained, dataset, auto_promote=auto_promote,
                                                                actor=actor, trigger=trigger)
                job = session.get(TrainingJob, job_ids[kind])
                job.status, job.finished_at, job.model_version_id = "succeeded", utcnow(), version_id
                job.promoted, job.message = promoted, reason
            results.append(KindResult(kind, "succeeded", job_ids[kind], version_id, promoted, reason,
                                      trained.metrics))
        except Exception as exc:
            message = _message(exc, f"training the {kind} model")
            _finish(sessions, job_ids[kind], "failed", message)
            results.append(KindResult(kind, "failed", job_ids[kind], message=message))
    return results


def _message(exc: Exception, doing: str) -> str:
    if isinstance(exc, LeadscoreError):
        return str(exc)
    log.error("%s failed\n%s", doing, traceback.format_exc())
    return f"{type(exc).__name__}: {exc}"


def _finish(sessions: sessionmaker[Session], job_id: int, status: str, message: str) -> None:
    with session_scope(sessions) as session:
        job = session.get(TrainingJob, job_id)
        job.status, job.finished_at, job.message = status, utcnow(), message[:4000]


def format_metrics(kind: str, metrics: dict[str, Any]) -> str:
    """One line per figure for ``leadscore evaluate``."""
    keys = {
        "time_to_convert": ("c_index", "n", "events", "p30_mean_predicted", "p30_observed", "p30_ece"),
        "deal_value": ("coverage", "nominal_coverage", "mae", "median_relative_error", "mean_relative_width", "n"),
        "next_action": ("policy_value", "most_common_value", "random_value", "observed_rate", "n"),
    }[kind]
    lines = [f"  {metrics.get('split', '')}"]
    for key in keys:
        value = metrics.get(key)
        lines.append(f"  {key:<24} {value:.4f}" if isinstance(value, float) else f"  {key:<24} {value}")
    return "\n".join(lines)
