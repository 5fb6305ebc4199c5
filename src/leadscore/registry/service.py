"""Model versions: register, look up, promote, roll back, retire.

Services flush, never commit: the command, request or job that calls them
owns the transaction. Promotion and rollback write an audit entry and an
outbox message (``model.promoted``) in that same transaction.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadscore.core import audit, outbox
from leadscore.core.database import utcnow
from leadscore.core.errors import LeadscoreError
from leadscore.registry.models import ModelVersion


class RegistryError(LeadscoreError):
    """A registry operation that cannot be done as asked (message says why)."""


@dataclass(frozen=True)
class PromotionCheck:
    """How a candidate compares with the champion on the same held-out data."""

    allowed: bool
    metric: str
    candidate: float | None
    champion: float | None
    tolerance: float
    reason: str


def serialize(model: object) -> bytes:
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def deserialize(blob: bytes) -> Any:
    # Artifacts are written only by this application into its own database.
    return pickle.loads(blob)  # noqa: S301


def get(session: Session, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise RegistryError(f"model version {version_id} does not exist")
    return version


def list_versions(
    session: Session, *, kind: str | None = None, dataset: str | None = None
) -> list[ModelVersion]:
    query = select(ModelVersion).order_by(ModelVersion.dataset, ModelVersion.kind, ModelVersion.version.desc())
    if kind:
        query = query.where(ModelVersion.kind == kind)
    if dataset:
        query = query.where(ModelVersion.dataset == dataset)
    return list(session.scalars(query))


def get_champion(session: Session, *, kind: str = "conversion", dataset: str) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(
            ModelVersion.kind == kind, ModelVersion.dataset == dataset, ModelVersion.state == "champion"
        )
    )


def champion_datasets(session: Session, *, kind: str = "conversion") -> list[str]:
    """The datasets that have a champion of ``kind``, in order."""
    return list(session.scalars(
        select(ModelVersion.dataset).where(ModelVersion.kind == kind, ModelVersion.state == "champion")
        .order_by(ModelVersion.dataset)
    ))


def get_challengers(session: Session, *, kind: str = "conversion", dataset: str) -> list[ModelVersion]:
    return list(
        session.scalars(
            select(ModelVersion).where(
                ModelVersion.kind == kind, ModelVersion.dataset == dataset, ModelVersion.state == "challenger"
            )
        )
    )


def load_model(session: Session, version: ModelVersion) -> Any:
    blob = session.scalar(select(ModelVersion.artifact).where(ModelVersion.id == version.id))
    if blob is None:
        raise RegistryError(f"model version {version.id} has no stored artifact")
    return deserialize(blob)


def register(
    session: Session,
    *,
    model: object,
    kind: str,
    dataset: str,
    algorithm: str,
    metrics: dict[str, Any],
    features: list[str],
    params: dict[str, Any],
    library_versions: dict[str, str],
    data_fingerprint: str | None,
    data_start: datetime | None,
    data_end: datetime | None,
    n_train: int,
    n_valid: int,
    n_positive: int,
    notes: str | None = None,
) -> ModelVersion:
    """Store a trained model as the next candidate version of (kind, dataset)."""
    latest = session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.kind == kind, ModelVersion.dataset == dataset)
    )
    version = ModelVersion(
        kind=kind,
        dataset=dataset,
        version=(latest or 0) + 1,
        state="candidate",
        algorithm=algorithm,
        artifact=serialize(model),
        metrics=metrics,
        features=features,
        params=params,
        library_versions=library_versions,
        data_fingerprint=data_fingerprint,
        data_start=data_start,
        data_end=data_end,
        n_train=n_train,
        n_valid=n_valid,
        n_positive=n_positive,
        notes=notes,
    )
    session.add(version)
    session.flush()
    return version


def check_promotion(
    candidate_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    *,
    metric: str = "roc_auc",
    tolerance: float = 0.005,
) -> PromotionCheck:
    """A candidate may replace the champion unless it is worse by more than ``tolerance``.

    Both metric dicts must come from the same held-out data (the training job
    scores the champion on the candidate's validation window).
    """
    candidate = candidate_metrics.get(metric)
    if champion_metrics is None:
        return PromotionCheck(True, metric, candidate, None, tolerance, "no champion yet")
    champion = champion_metrics.get(metric)
    if candidate is None or champion is None:
        return PromotionCheck(False, metric, candidate, champion, tolerance, f"{metric} missing, cannot compare")
    lower_is_better = metric in ("log_loss", "brier", "ece")
    worse_by = (candidate - champion) if lower_is_better else (champion - candidate)
    if worse_by > tolerance:
        return PromotionCheck(
            False, metric, candidate, champion, tolerance,
            f"{metric} {candidate:.4f} is worse than the champion's {champion:.4f} by more than {tolerance}",
        )
    return PromotionCheck(
        True, metric, candidate, champion, tolerance,
        f"{metric} {candidate:.4f} vs champion {champion:.4f} (tolerance {tolerance})",
    )


def promote(session: Session, version_id: int, *, actor: str, reason: str = "") -> ModelVersion:
    """Make a version the champion; the previous champion is retired."""
    version = get(session, version_id)
    if version.state == "champion":
        raise RegistryError(f"model version {version_id} is already the champion")
    if version.state == "failed":
        raise RegistryError(f"model version {version_id} failed training and cannot be promoted")
    previous = get_champion(session, kind=version.kind, dataset=version.dataset)
    now = utcnow()
    if previous is not None:
        previous.state = "retired"
        previous.retired_at = now
        # Flush first: only one champion per (kind, dataset) may exist at any moment.
        session.flush()
    version.state = "champion"
    version.promoted_at = now
    version.retired_at = None
    session.flush()
    details = {"version": version.version, "kind": version.kind, "dataset": version.dataset,
               "previous_id": previous.id if previous else None, "reason": reason}
    audit.record(session, actor=actor, action="model.promoted", entity_type="model_version",
                 entity_id=version.id, details=details)
    outbox.enqueue(session, "model.promoted", {"model_version_id": version.id, **details})
    return version


def rollback(session: Session, *, kind: str = "conversion", dataset: str, actor: str) -> ModelVersion:
    """Put back the most recently retired champion of (kind, dataset)."""
    current = get_champion(session, kind=kind, dataset=dataset)
    previous = session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.kind == kind,
            ModelVersion.dataset == dataset,
            ModelVersion.state == "retired",
            ModelVersion.promoted_at.is_not(None),
        )
        .order_by(ModelVersion.retired_at.desc(), ModelVersion.version.desc())
        .limit(1)
    )
    if previous is None:
        raise RegistryError(f"no earlier champion of {kind} models for dataset {dataset!r} to roll back to")
    return promote(
        session, previous.id, actor=actor,
        reason=f"rollback from version {current.version if current else 'none'}",
    )


def set_state(session: Session, version_id: int, state: str, *, actor: str) -> ModelVersion:
    """Mark a version challenger (shadow scoring) or retired."""
    if state not in ("challenger", "retired", "candidate"):
        raise RegistryError(f"state must be challenger, retired or candidate, not {state!r}")
    version = get(session, version_id)
    if version.state == "champion":
        raise RegistryError("the champion cannot be demoted directly: promote another version or roll back")
    version.state = state
    version.retired_at = utcnow() if state == "retired" else None
    audit.record(session, actor=actor, action=f"model.{state}", entity_type="model_version", entity_id=version.id)
    session.flush()
    return version
