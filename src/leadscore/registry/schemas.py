"""Request and response bodies of the /v1/models API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadscore.core.types import DATASET_PATTERN

ModelKind = Literal["conversion", "time_to_convert", "deal_value", "next_action"]
ModelState = Literal["candidate", "champion", "challenger", "retired", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]

_VERSION_EXAMPLE: dict[str, Any] = {
    "id": 12, "dataset": "default", "kind": "conversion", "version": 4, "state": "champion",
    "algorithm": "lightgbm-gam", "n_train": 18250, "n_valid": 3650, "n_positive": 2410,
    "roc_auc": 0.81, "ece": 0.012, "created_at": "2026-05-02T03:00:00Z", "promoted_at": "2026-05-02T03:01:10Z",
    "retired_at": None,
}


class ModelVersionRead(BaseModel):
    """One model version (its artifact is never sent)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_VERSION_EXAMPLE]})

    id: int
    dataset: str
    kind: str
    version: int
    state: str
    algorithm: str
    n_train: int
    n_valid: int
    n_positive: int
    roc_auc: float | None = Field(None, description="Held-out ROC AUC recorded at training.")
    ece: float | None = Field(None, description="Held-out expected calibration error.")
    created_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, version: Any) -> ModelVersionRead:
        metrics = version.metrics or {}
        return cls.model_validate({**{k: getattr(version, k) for k in cls.model_fields if hasattr(version, k)},
                                   "roc_auc": _number(metrics.get("roc_auc")), "ece": _number(metrics.get("ece"))})


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value == value else None


class ModelVersionDetail(ModelVersionRead):
    """Everything stored about a version: metrics (with the champion comparison), features, parameters."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_VERSION_EXAMPLE, "data_start": "2025-01-01T00:00:00Z", "data_end": "2026-04-30T00:00:00Z",
        "features": ["pre_approved", "listing_views_7d"], "params": {"config": {"seed": 0}},
        "metrics": {"roc_auc": 0.81, "champion_comparison": {"allowed": True, "reason": "roc_auc 0.81 vs 0.80"}},
        "library_versions": {"lightgbm": "4.5.0"}, "data_fingerprint": "3f2a", "notes": None,
    }]})

    data_start: datetime | None
    data_end: datetime | None
    features: list[Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    library_versions: dict[str, Any]
    data_fingerprint: str | None
    notes: str | None

    @classmethod
    def of(cls, version: Any) -> ModelVersionDetail:
        base = ModelVersionRead.of(version).model_dump()
        extra = {k: getattr(version, k) for k in ("data_start", "data_end", "features", "params", "metrics",
                                                  "library_versions", "data_fingerprint", "notes")}
        return cls.model_validate({**base, **extra})


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"force": False, "reason": "reviewed"}]})

    force: bool = Field(False, description="Promote even if the version scored worse than the champion on "
                        "held-out data (metrics.champion_comparison.allowed is false).")
    reason: str | None = Field(None, max_length=500, description="Kept in the audit log.")


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"dataset": "default",
                                                                               "kind": "conversion"}]})

    dataset: str = Field("default", min_length=1, max_length=64, pattern=DATASET_PATTERN)
    kind: ModelKind = "conversion"


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"dataset": "default"}]})

    dataset: str = Field("default", min_length=1, max_length=64, pattern=DATASET_PATTERN,
                         description="Dataset whose closed leads to learn from.")


_JOB_EXAMPLE: dict[str, Any] = {
    "id": 31, "dataset": "default", "kind": "conversion", "trigger": "api", "status": "succeeded",
    "requested_at": "2026-05-02T03:00:00Z", "started_at": "2026-05-02T03:00:01Z",
    "finished_at": "2026-05-02T03:00:40Z", "model_version_id": 12, "promoted": True,
    "message": "roc_auc 0.8100 vs champion 0.8000 (tolerance 0.005)",
}


class TrainingJobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_JOB_EXAMPLE]})

    id: int
    dataset: str
    kind: str
    trigger: str
    status: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_version_id: int | None
    promoted: bool
    message: str | None


class DriftEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    model_version_id: int
    detected_at: datetime
    subject: str = Field(description='"score" for the score distribution, else a feature name.')
    psi: float
    severity: str
    window_start: datetime | None
    window_end: datetime | None


class DriftReport(BaseModel):
    """Drift events recorded by the periodic check against the champion's training data."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "dataset": "default", "champion_id": 12, "last_check_at": "2026-05-02T06:00:00Z",
        "last_check_status": "succeeded", "last_check_message": "default: ok",
        "events": [{"id": 3, "model_version_id": 12, "detected_at": "2026-05-02T06:00:00Z", "subject": "score",
                    "psi": 0.27, "severity": "drift", "window_start": "2026-04-02T06:00:00Z",
                    "window_end": "2026-05-02T06:00:00Z"}],
    }]})

    dataset: str
    champion_id: int | None
    last_check_at: datetime | None = Field(None, description="When the scheduler last ran the drift check.")
    last_check_status: str | None = None
    last_check_message: str | None = None
    events: list[DriftEventRead]


class PerformanceRow(BaseModel):
    model_version_id: int
    version: int
    period: str
    n: int
    converted: int
    roc_auc: float | None
    log_loss: float | None
    brier: float | None
    ece: float | None
    mean_predicted: float | None
    observed_rate: float | None


class PerformanceReport(BaseModel):
    """Realised accuracy per model version and period of closing."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"dataset": "default", "freq": "W", "rows": [
        {"model_version_id": 12, "version": 4, "period": "2026-04-27", "n": 120, "converted": 19, "roc_auc": 0.79,
         "log_loss": 0.36, "brier": 0.11, "ece": 0.02, "mean_predicted": 0.15, "observed_rate": 0.16}]}]})

    dataset: str
    freq: Literal["W", "M"]
    rows: list[PerformanceRow]
