"""/v1/models: model versions and their life cycle, training jobs, drift and realised performance.

Reads need the ``read`` scope, changes ``admin``. Retraining is queued through
the outbox (``model.retrain``) and answered with 202 and the training job,
which the worker picks up and runs; poll ``GET /v1/models/jobs/{job_id}``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import Path, Query, status
from sqlalchemy import select

from leadscore.core import outbox
from leadscore.core.deps import SessionDep
from leadscore.core.problems import Conflict, NotFound
from leadscore.core.routes import router as api_router
from leadscore.core.scheduler_models import ScheduledRun
from leadscore.core.security import AdminKey, Principal, ReadKey
from leadscore.core.security.schemas import ProblemDetail
from leadscore.registry import monitoring, service
from leadscore.registry.models import DriftEvent, ModelVersion, TrainingJob
from leadscore.registry.schemas import (
    DATASET_PATTERN,
    DriftEventRead,
    DriftReport,
    JobStatus,
    ModelKind,
    ModelState,
    ModelVersionDetail,
    ModelVersionRead,
    PerformanceReport,
    PerformanceRow,
    PromoteRequest,
    RetrainRequest,
    RollbackRequest,
    TrainingJobRead,
)

router = api_router(prefix="/models", tags=["models"])

RETRAIN_TOPIC = "model.retrain"
MAX_ID = 2**31 - 1
VersionId = Annotated[int, Path(ge=1, le=MAX_ID, description="Model version id.")]
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="Training job id.")]
Dataset = Annotated[str, Query(min_length=1, max_length=64, pattern=DATASET_PATTERN)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ProblemDetail, "description": "No such model version."}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": ProblemDetail, "description": "Not allowed in the version's current state."},
}


def _actor(principal: Principal) -> str:
    return f"apikey:{principal.prefix}"


def _version(session: Any, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound(f"model version {version_id} does not exist")
    return version


def _guard(action: Any) -> Any:
    """Registry refusals (already champion, nothing to roll back...) are conflicts, not bad requests."""
    try:
        return action()
    except service.RegistryError as exc:
        raise Conflict(str(exc)) from None


@router.get("", summary="List model versions",
            description="Newest version first within each dataset and kind; filter by dataset, kind and state.")
def list_models(
    session: SessionDep,
    principal: ReadKey,
    dataset: Annotated[str | None, Query(min_length=1, max_length=64, pattern=DATASET_PATTERN)] = None,
    kind: ModelKind | None = None,
    state: ModelState | None = None,
) -> list[ModelVersionRead]:
    versions = service.list_versions(session, kind=kind, dataset=dataset)
    return [ModelVersionRead.of(v) for v in versions if state is None or v.state == state]


@router.post("/retrain", status_code=status.HTTP_202_ACCEPTED, summary="Retrain a dataset's model now",
             description="Queues a training job and returns it at once (status `queued`). A worker trains, "
             "registers the candidate and promotes it unless it is worse than the champion on held-out data. "
             "Poll `GET /v1/models/jobs/{job_id}`.")
def retrain(body: RetrainRequest, session: SessionDep, principal: AdminKey) -> TrainingJobRead:
    job = TrainingJob(kind="conversion", dataset=body.dataset, trigger="api", status="queued",
                      options={"actor": _actor(principal)})
    session.add(job)
    session.flush()
    outbox.enqueue(session, RETRAIN_TOPIC, {"dataset": body.dataset, "job_id": job.id, "trigger": "api",
                                            "actor": _actor(principal)})
    return TrainingJobRead.model_validate(job)


@router.get("/jobs", summary="List training jobs", description="Newest first: the retraining history, "
            "whether triggered by the schedule, a drift alarm, the CLI or the API.")
def list_jobs(
    session: SessionDep,
    principal: ReadKey,
    dataset: Annotated[str | None, Query(min_length=1, max_length=64, pattern=DATASET_PATTERN)] = None,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[TrainingJobRead]:
    query = select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)
    if dataset:
        query = query.where(TrainingJob.dataset == dataset)
    if status_:
        query = query.where(TrainingJob.status == status_)
    return [TrainingJobRead.model_validate(j) for j in session.scalars(query)]


@router.get("/jobs/{job_id:int}", summary="Get a training job",
            description="Its status, the version it produced and whether that version was promoted.",
            responses={404: {"model": ProblemDetail, "description": "No such training job."}})
def get_job(job_id: JobId, session: SessionDep, principal: ReadKey) -> TrainingJobRead:
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist")
    return TrainingJobRead.model_validate(job)


@router.get("/drift", summary="Drift of a dataset's champion",
            description="The drift events (PSI past the thresholds) recorded for the dataset's champion, newest "
            "first, and the last run of the periodic drift check. The check itself runs on the scheduler "
            "(every LEADSCORE_DRIFT_CHECK_INTERVAL_HOURS) or with `leadscore monitor drift`: it scores recent "
            "leads, too slow for a request.")
def drift(session: SessionDep, principal: ReadKey, dataset: Dataset = "default",
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> DriftReport:
    champion = service.get_champion(session, dataset=dataset)
    events: list[DriftEventRead] = []
    if champion is not None:
        rows = session.scalars(select(DriftEvent).where(DriftEvent.model_version_id == champion.id)
                               .order_by(DriftEvent.detected_at.desc(), DriftEvent.id.desc()).limit(limit))
        events = [DriftEventRead.model_validate(e) for e in rows]
    run = session.get(ScheduledRun, "drift-check")
    return DriftReport(dataset=dataset, champion_id=champion.id if champion else None,
                       last_check_at=run.last_finished_at if run else None,
                       last_check_status=run.last_status if run else None,
                       last_check_message=run.last_message if run else None, events=events)


@router.get("/performance", summary="Realised performance",
            description="AUC, log loss and calibration per model version and period of closing, from the score "
            "each version last gave a lead before its outcome. Empty until scored leads close.")
def performance(session: SessionDep, principal: ReadKey, dataset: Dataset = "default",
                freq: Literal["W", "M"] = "W") -> PerformanceReport:
    frame = monitoring.realised(session, dataset=dataset, freq=freq)
    rows = [PerformanceRow.model_validate({k: _clean(v) for k, v in record.items()})
            for record in frame.to_dict(orient="records")]
    return PerformanceReport(dataset=dataset, freq=freq, rows=rows)


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float, type(None))) else str(value)


@router.post("/rollback", summary="Restore the previous champion", responses=CONFLICT,
             description="The most recently retired champion of (dataset, kind) becomes champion again.")
def rollback(body: RollbackRequest, session: SessionDep, principal: AdminKey) -> ModelVersionRead:
    version = _guard(lambda: service.rollback(session, kind=body.kind, dataset=body.dataset, actor=_actor(principal)))
    return ModelVersionRead.of(version)


@router.get("/{version_id:int}", summary="Get a model version with its metrics", responses=NOT_FOUND,
            description="Held-out metrics and report, the comparison with the champion it was trained against, "
            "features, parameters and the data window.")
def get_model(version_id: VersionId, session: SessionDep, principal: ReadKey) -> ModelVersionDetail:
    return ModelVersionDetail.of(_version(session, version_id))


@router.post("/{version_id:int}/promote", summary="Make a version the champion", responses=CONFLICT,
             description="The current champion is retired. A version that scored worse than the champion on "
             "held-out data (`metrics.champion_comparison.allowed` false) is refused with 409 unless `force` "
             "is true, as with `leadscore models promote --force`.")
def promote(version_id: VersionId, body: PromoteRequest, session: SessionDep, principal: AdminKey) -> ModelVersionRead:
    version = _version(session, version_id)
    comparison = (version.metrics or {}).get("champion_comparison")
    if isinstance(comparison, dict) and not comparison.get("allowed", True) and not body.force:
        raise Conflict(f"version {version_id} was worse than the champion on held-out data "
                       f"({comparison.get('reason')}); send force=true to promote anyway")
    reason = body.reason or ("forced" if body.force else "manual")
    return ModelVersionRead.of(_guard(lambda: service.promote(session, version_id, actor=_actor(principal),
                                                              reason=reason)))


@router.post("/{version_id:int}/challenger", summary="Score with a version in shadow", responses=CONFLICT,
             description="The version scores every lead beside the champion; its scores are stored for "
             "comparison and never shown as current.")
def make_challenger(version_id: VersionId, session: SessionDep, principal: AdminKey) -> ModelVersionRead:
    _version(session, version_id)
    return ModelVersionRead.of(_guard(lambda: service.set_state(session, version_id, "challenger",
                                                                actor=_actor(principal))))


@router.post("/{version_id:int}/retire", summary="Retire a candidate or challenger", responses=CONFLICT,
             description="The champion cannot be retired directly: promote another version or roll back.")
def retire(version_id: VersionId, session: SessionDep, principal: AdminKey) -> ModelVersionRead:
    _version(session, version_id)
    return ModelVersionRead.of(_guard(lambda: service.set_state(session, version_id, "retired",
                                                                actor=_actor(principal))))
