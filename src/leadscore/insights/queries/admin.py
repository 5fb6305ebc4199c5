"""The administrator's panels: model versions, realised accuracy and calibration,
drift, retraining history and data-quality counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from leadscore.integrations.models import ImportRun
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.registry import monitoring
from leadscore.registry.models import DriftEvent, ModelVersion, TrainingJob
from leadscore.scoring.models import Score

from leadscore.insights.queries.common import OPEN_STATUSES

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile")


def model_versions(session: Session, dataset: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ModelVersion.id, ModelVersion.kind, ModelVersion.version, ModelVersion.state, ModelVersion.algorithm,
               ModelVersion.created_at, ModelVersion.promoted_at, ModelVersion.n_train, ModelVersion.n_positive,
               ModelVersion.metrics, ModelVersion.notes)
        .where(ModelVersion.dataset == dataset).order_by(ModelVersion.kind, ModelVersion.version.desc()).limit(50)
    ).all()
    return [{**r._asdict(), "metrics": {k: (r.metrics or {}).get(k) for k in METRIC_KEYS},
             "headline": headline(r.kind, r.metrics or {})} for r in rows]


def _fmt(value: Any, pattern: str) -> str:
    return pattern.format(value) if isinstance(value, (int, float)) else "–"


def headline(kind: str, metrics: dict[str, Any]) -> str | None:
    """The held-out figures that judge a predictive model, in a line (None for the conversion model,
    whose metrics have their own columns)."""
    if kind == "time_to_convert":
        return (f"C-index {_fmt(metrics.get('c_index'), '{:.3f}')}; P(convert within 30 days) "
                f"{_fmt(metrics.get('p30_mean_predicted'), '{:.3f}')} predicted vs "
                f"{_fmt(metrics.get('p30_observed'), '{:.3f}')} observed (n = {metrics.get('n', '–')})")
    if kind == "deal_value":
        return (f"P10–P90 coverage {_fmt(metrics.get('coverage'), '{:.1%}')} (nominal 80 %); median relative "
                f"error of P50 {_fmt(metrics.get('median_relative_error'), '{:.1%}')} (n = {metrics.get('n', '–')})")
    if kind == "next_action":
        return (f"conversion under the recommended actions {_fmt(metrics.get('policy_value'), '{:.3f}')} vs "
                f"always the most common {_fmt(metrics.get('most_common_value'), '{:.3f}')} vs random "
                f"{_fmt(metrics.get('random_value'), '{:.3f}')} (doubly robust, n = {metrics.get('n', '–')})")
    return None


def realised(session: Session, dataset: str) -> pd.DataFrame:
    """Weekly realised accuracy per model version (registry.monitoring)."""
    return monitoring.realised(session, dataset=dataset, freq="W")


def calibration(session: Session, dataset: str, *, bins: int = 10,
                version_id: int | None = None) -> list[dict[str, float]]:
    """Predicted vs observed conversion by probability decile, for the champion's (or
    ``version_id``'s) last score before each closed lead closed (scores after closing
    would have seen the outcome)."""
    champion = version_id if version_id is not None else session.scalar(select(ModelVersion.id).where(
        ModelVersion.dataset == dataset, ModelVersion.kind == "conversion", ModelVersion.state == "champion"))
    if champion is None:
        return []
    rows = session.execute(
        select(Score.lead_id, Score.scored_at, Score.probability, Outcome.result)
        .join(Outcome, Outcome.lead_id == Score.lead_id)
        .where(Score.model_version_id == champion, Outcome.closed_at.is_not(None), Score.scored_at < Outcome.closed_at)
    ).all()
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["lead_id", "scored_at", "p", "result"])
    frame = frame.sort_values("scored_at").groupby("lead_id").last()
    frame["y"] = (frame["result"] == "won").astype(int)
    frame["bin"] = np.minimum((frame["p"] * bins).astype(int), bins - 1)
    grouped = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    return [{"predicted": float(r.predicted), "observed": float(r.observed), "n": int(r.n)}
            for r in grouped.itertuples()]


def calibration_of_latest(session: Session, dataset: str) -> tuple[int | None, list[dict[str, float]]]:
    """(version, bins): the champion's calibration, or, while none of the leads it scored has
    closed yet, that of the newest conversion model whose scored leads have (e.g. the champion
    it replaced). Always a version's own scores from before each lead closed."""
    versions = session.execute(
        select(ModelVersion.id, ModelVersion.version, ModelVersion.state)
        .where(ModelVersion.dataset == dataset, ModelVersion.kind == "conversion")
        .order_by((ModelVersion.state == "champion").desc(), ModelVersion.version.desc()).limit(10)
    ).all()
    for version_id, version, _state in versions:
        bins = calibration(session, dataset, version_id=version_id)
        if bins:
            return int(version), bins
    return None, []


def drift(session: Session, dataset: str, *, limit: int = 40) -> list[dict[str, Any]]:
    """The latest drift event per subject, for this dataset's models, worst first."""
    rows = session.execute(
        select(DriftEvent.subject, DriftEvent.psi, DriftEvent.severity, DriftEvent.detected_at, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == DriftEvent.model_version_id)
        .where(ModelVersion.dataset == dataset).order_by(DriftEvent.detected_at.desc()).limit(500)
    ).all()
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest.setdefault(r.subject, r._asdict())
    return sorted(latest.values(), key=lambda d: -d["psi"])[:limit]


def training_history(session: Session, dataset: str, *, limit: int = 25) -> list[dict[str, Any]]:
    rows = session.execute(
        select(TrainingJob.id, TrainingJob.kind, TrainingJob.trigger, TrainingJob.status, TrainingJob.requested_at,
               TrainingJob.finished_at, TrainingJob.promoted, TrainingJob.message, ModelVersion.version)
        .outerjoin(ModelVersion, ModelVersion.id == TrainingJob.model_version_id)
        .where(TrainingJob.dataset == dataset).order_by(TrainingJob.requested_at.desc()).limit(limit)
    ).all()
    return [r._asdict() for r in rows]


@dataclass
class QualityCount:
    label: str
    count: int
    of: int
    hint: str


def data_quality(session: Session, dataset: str) -> list[QualityCount]:
    total = session.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == dataset)) or 0

    def leads_where(*conditions):  # noqa: ANN001, ANN202
        return int(session.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == dataset,
                                                                                *conditions)) or 0)

    duplicates = _duplicate_emails(session, dataset)
    # One query per channel: each walks the (dataset, type, lead_id) index; an OR across
    # channels made the planner scan every interaction.
    outbound = 0
    for kind, consent in (("email_sent", Lead.consent_email), ("text", Lead.consent_sms), ("call", Lead.consent_phone)):
        outbound += session.scalar(
            select(func.count()).select_from(Interaction).join(Lead, Lead.id == Interaction.lead_id)
            .where(Interaction.dataset == dataset, Interaction.type == kind, Interaction.direction == "outbound",
                   consent.is_(False))) or 0
    return [
        QualityCount("Leads with neither e-mail nor phone", leads_where(Lead.email.is_(None), Lead.phone.is_(None)),
                     total, "Nobody can contact them; check the import's column mapping."),
        QualityCount("Leads without an arrival time", leads_where(Lead.created_at.is_(None)), total,
                     "Their age and early behaviour cannot be measured."),
        QualityCount("Leads without a source", leads_where(Lead.source.is_(None)), total,
                     "Source is one of the strongest signals."),
        QualityCount("Open leads without an agent",
                     leads_where(Lead.status.in_(OPEN_STATUSES), Lead.agent_id.is_(None)), total,
                     "Nobody is working them."),
        QualityCount("Leads that opted out of profiling (not scored)", leads_where(Lead.consent_profiling.is_(False)),
                     total, "Expected: they are skipped on purpose."),
        QualityCount("Extra leads sharing an e-mail with another lead", duplicates, total,
                     "Possible duplicates; merge them at the source."),
        QualityCount("Outbound e-mails, texts or calls without the lead's consent for that channel", int(outbound),
                     0, "Contact without consent: review with the team."),
    ]


def _duplicate_emails(session: Session, dataset: str) -> int:
    groups = (select(func.count().label("n")).where(Lead.dataset == dataset, Lead.email.is_not(None))
              .group_by(Lead.email).having(func.count() > 1).subquery())
    return int(session.scalar(select(func.coalesce(func.sum(groups.c.n - 1), 0))) or 0)


def failed_imports(session: Session, dataset: str, *, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ImportRun.id, ImportRun.kind, ImportRun.file_name, ImportRun.status, ImportRun.started_at,
               ImportRun.rows_read, ImportRun.rows_failed, ImportRun.message)
        .where(ImportRun.dataset == dataset, or_(ImportRun.rows_failed > 0, ImportRun.status == "failed"))
        .order_by(ImportRun.started_at.desc()).limit(limit)
    ).all()
    return [r._asdict() for r in rows]
