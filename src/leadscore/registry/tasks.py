"""Training and monitoring jobs. Each owns its transactions; none runs inside a request."""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core.database import session_scope, utcnow
from leadscore.core.errors import LeadscoreError
from leadscore.ml import TrainingConfig
from leadscore.registry import monitoring, service, training
from leadscore.registry.models import ModelVersion, TrainingJob

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    job_id: int
    status: str
    version_id: int | None = None
    version: int | None = None
    promoted: bool = False
    decision: str = ""
    evaluation_text: str = ""
    message: str = ""


def run_training_job(
    sessions: sessionmaker[Session],
    *,
    dataset: str,
    config: TrainingConfig | None = None,
    trigger: str = "manual",
    actor: str = "system",
    auto_promote: bool = True,
    tolerance: float = 0.005,
    metric: str = "roc_auc",
    progress: Callable[[str, float], None] | None = None,
    job_id: int | None = None,
) -> TrainingResult:
    """Train a candidate, register it, promote it if it is not worse than the champion.

    A failure (no data, a bug, a bad config) is recorded on the job row and the
    champion stays in place. ``job_id`` runs a job queued earlier (by the API);
    one already finished is not run again (the message was delivered twice).
    """
    config = config or TrainingConfig()
    options = {"seed": config.seed, "exclude": list(config.exclude), "leakage_override": list(config.leakage_override)}
    with session_scope(sessions) as session:
        job = session.get(TrainingJob, job_id) if job_id is not None else None
        if job is not None and job.status in ("succeeded", "failed"):
            return TrainingResult(job.id, job.status, job.model_version_id, None, job.promoted, job.message or "")
        if job is None:
            job = TrainingJob(kind="conversion", dataset=dataset, trigger=trigger)
            session.add(job)
        job.status, job.started_at, job.options = "running", utcnow(), {**(job.options or {}), **options}
        session.flush()
        job_id = job.id
    try:
        with session_scope(sessions) as session:
            data = training.load_training_data(session, dataset=dataset)
            champion_row = service.get_champion(session, dataset=dataset)
            champion = service.load_model(session, champion_row) if champion_row else None
        # Training runs with no transaction open: it can take minutes.
        candidate = training.train(data, config, progress)
        if champion is not None and candidate.artifact.model.kind == "gam":
            candidate.comparison = training.compare_with_champion(candidate, champion, champion_row.created_at)
        with session_scope(sessions) as session:
            version = training.register_candidate(session, candidate)
            decision, allowed = _decide(candidate, champion_row is not None, metric, tolerance)
            version.metrics = {**version.metrics, "champion_comparison": {
                **candidate.comparison, "allowed": allowed, "reason": decision, "metric": metric,
                "tolerance": tolerance}}
            promoted = False
            if allowed and auto_promote:
                service.promote(session, version.id, actor=actor, reason=f"{trigger}: {decision}")
                promoted = True
            job = session.get(TrainingJob, job_id)
            job.status, job.finished_at, job.model_version_id = "succeeded", utcnow(), version.id
            job.promoted, job.message = promoted, decision
            report = candidate.artifact.model.evaluation
            result = TrainingResult(job_id, "succeeded", version.id, version.version, promoted, decision,
                                    report.table() if report is not None else str(version.notes or ""), decision)
    except Exception as exc:
        expected = isinstance(exc, LeadscoreError)
        message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        if not expected:
            log.error("training job %s failed\n%s", job_id, traceback.format_exc())
        with session_scope(sessions) as session:
            job = session.get(TrainingJob, job_id)
            job.status, job.finished_at, job.message = "failed", utcnow(), message[:4000]
        return TrainingResult(job_id, "failed", message=message)
    # After the conversion model is committed: the predictive models (own job rows) can never undo it.
    _train_predictive(sessions, dataset=dataset, config=config, trigger=trigger, actor=actor, auto_promote=auto_promote)
    return result


def _train_predictive(sessions: sessionmaker[Session], *, dataset: str, config: TrainingConfig, trigger: str,
                      actor: str, auto_promote: bool) -> None:
    from leadscore.registry import predictive, predictive_training

    try:
        predictive.run_predictive_jobs(sessions, dataset=dataset, trigger=trigger, actor=actor,
                                       auto_promote=auto_promote,
                                       config=predictive_training.PredictiveConfig(seed=config.seed,
                                                                                   exclude=tuple(config.exclude)))
    except Exception:  # recorded on its job rows when possible; never fails the conversion job
        log.exception("predictive models for dataset %s failed", dataset)


def _decide(candidate: training.Candidate, has_champion: bool, metric: str, tolerance: float) -> tuple[str, bool]:
    model = candidate.artifact.model
    if model.kind == "rules":
        if has_champion:
            return ("too little data for a trained model; the rules fallback does not replace the champion", False)
        return ("cold start: too little data, the rules model scores until enough outcomes arrive", True)
    candidate_metrics = training.holdout_metrics(candidate) or {}
    champion_metrics = candidate.comparison.get("champion") if candidate.comparison else None
    check = service.check_promotion(candidate_metrics, champion_metrics, metric=metric, tolerance=tolerance)
    return check.reason, check.allowed


def datasets_with_models(session: Session) -> list[str]:
    return list(session.scalars(select(ModelVersion.dataset).where(ModelVersion.state == "champion").distinct()))


def last_trained(session: Session, dataset: str) -> datetime | None:
    """When the dataset's newest successful conversion training finished (any trigger)."""
    return session.scalar(
        select(func.max(TrainingJob.finished_at)).where(
            TrainingJob.dataset == dataset, TrainingJob.kind == "conversion", TrainingJob.status == "succeeded"
        )
    )


def retrain_all(services: Services, *, trigger: str = "schedule") -> str:
    """The daily job: retrain every dataset that has a champion and was not trained within the interval.

    A model trained by hand (``leadscore train``, ``leadscore demo``, the API) an hour
    ago is fresh: retraining it again just because this scheduler has not run yet in
    this database would spend minutes of CPU for nothing.
    """
    settings = services.settings
    fresh_after = utcnow() - timedelta(hours=settings.retrain_interval_hours)
    with session_scope(services.runtime.sessions) as session:
        datasets = datasets_with_models(session)
        trained = {dataset: last_trained(session, dataset) for dataset in datasets}
    results = []
    for dataset in datasets:
        if trigger == "schedule" and trained[dataset] is not None and trained[dataset] > fresh_after:
            results.append(f"{dataset}: skipped (trained at {trained[dataset]:%Y-%m-%d %H:%M} UTC)")
            continue
        result = run_training_job(services.runtime.sessions, dataset=dataset, trigger=trigger, actor="scheduler",
                                  tolerance=settings.promotion_tolerance)
        results.append(f"{dataset}: {result.status}{' (promoted)' if result.promoted else ''}")
        if result.promoted:
            services.cache.clear_prefix("score:")
    return "; ".join(results) or "no datasets with a champion"


def check_drift_all(services: Services) -> str:
    """Check drift for every champion; a drifted one is retrained right away."""
    with session_scope(services.runtime.sessions) as session:
        datasets = datasets_with_models(session)
    messages = []
    for dataset in datasets:
        with session_scope(services.runtime.sessions) as session:
            outcome = monitoring.check_drift(session, dataset=dataset)
        messages.append(f"{dataset}: {outcome.status}")
        if outcome.status == "drift":
            result = run_training_job(services.runtime.sessions, dataset=dataset, trigger="drift",
                                      actor="drift-monitor", tolerance=services.settings.promotion_tolerance)
            messages.append(f"{dataset}: retrain {result.status}")
    return "; ".join(messages) or "no datasets with a champion"


def periodic_jobs(services: Services) -> list[Any]:
    from leadscore.core.scheduler import PeriodicJob

    settings = services.settings
    return [
        PeriodicJob("retrain", timedelta(hours=settings.retrain_interval_hours), lambda: retrain_all(services)),
        PeriodicJob("drift-check", timedelta(hours=settings.drift_check_interval_hours),
                    lambda: check_drift_all(services)),
    ]


def register(services: Services) -> None:
    def on_retrain(payload: dict[str, Any]) -> None:
        run_training_job(services.runtime.sessions, dataset=payload["dataset"], trigger=payload.get("trigger", "api"),
                         actor=payload.get("actor", "api"), tolerance=services.settings.promotion_tolerance,
                         job_id=payload.get("job_id"))

    services.tasks.register("model.retrain", on_retrain)
