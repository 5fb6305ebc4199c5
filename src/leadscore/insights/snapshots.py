"""Precomputed dashboard statistics: compute, store and read the latest snapshot per dataset.

The behavioural analysis and the admin aggregates (realised accuracy, calibration,
drift per feature, data-quality counts) scan every closed lead and up to a million
interactions: seconds at 50,000 leads. A background job (``insights.tasks``)
computes them and stores the result here; the pages read one small row and say
"as of" when it was computed.

Each snapshot keeps a *fingerprint* of the data it was computed from (counts and
maxima that move whenever outcomes, scores, leads, interactions or the champion
change). The job recomputes only when the fingerprint moved or the snapshot is
older than ``MAX_AGE``; a page compares it to say whether newer data has arrived.

Services flush, never commit: the job (or the page's one-off fallback) owns the
transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadscore.core.database import utcnow
from leadscore.insights.models import DashboardSnapshot
from leadscore.insights.queries import admin, behaviour, common
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.registry.models import ModelVersion
from leadscore.scoring.models import Score

KINDS = ("behaviour", "admin")
# Even when nothing we fingerprint moved (e.g. a lead's attributes were edited), recompute daily.
MAX_AGE = timedelta(hours=24)
DRIFT_WINDOW_DAYS = 30
MIN_DRIFT_ROWS = 50


@dataclass
class Snapshot:
    dataset: str
    kind: str
    computed_at: datetime
    seconds: float
    fingerprint: list[str]
    data: dict[str, Any]


# --- fingerprints --------------------------------------------------------------------------------

def _outcomes(session: Session, dataset: str) -> list[Any]:
    return list(session.execute(select(func.count(), func.max(Outcome.id), func.max(Outcome.recorded_at))
                                .join(Lead, Lead.id == Outcome.lead_id).where(Lead.dataset == dataset)).one())


def _leads(session: Session, dataset: str) -> list[Any]:
    return list(session.execute(select(func.count(), func.max(Lead.id)).where(Lead.dataset == dataset)).one())


def _champion(session: Session, dataset: str) -> int | None:
    return session.scalar(select(ModelVersion.id).where(
        ModelVersion.dataset == dataset, ModelVersion.kind == "conversion", ModelVersion.state == "champion"))


def fingerprint(session: Session, dataset: str, kind: str) -> list[str]:
    """What the snapshot of ``kind`` depends on, as comparable strings (a handful of indexed reads)."""
    parts: list[Any] = [*_outcomes(session, dataset), *_leads(session, dataset),
                        session.scalar(select(func.max(Interaction.id)))]
    if kind == "admin":
        parts += [session.scalar(select(func.max(Score.id))), _champion(session, dataset),
                  session.scalar(select(func.max(Lead.updated_at)).where(Lead.dataset == dataset)),
                  session.scalar(select(func.max(ModelVersion.id)).where(ModelVersion.dataset == dataset))]
    return [str(p) for p in parts]


# --- computing --------------------------------------------------------------------------------------

def compute_behaviour(session: Session, dataset: str) -> dict[str, Any]:
    rows, closed, won = behaviour.behaviour_analysis(session, dataset)
    return {"rows": [asdict(r) for r in rows], "closed": closed, "won": won}


def _realised_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict("records"):
        clean = {}
        for key, value in record.items():
            if isinstance(value, (np.integer,)):
                value = int(value)
            elif isinstance(value, (np.floating, float)):
                value = None if np.isnan(value) else float(value)
            elif not isinstance(value, (int, str, type(None))):
                value = str(value)  # pandas Period / Timestamp of the week
            clean[str(key)] = value
        out.append(clean)
    return out


def drift_per_feature(session: Session, dataset: str, *, window_days: int = DRIFT_WINDOW_DAYS) -> dict[str, Any]:
    """Population stability of every feature (and the score) of the champion, for leads that
    arrived in the ``window_days`` up to now (or up to the newest lead) against its training data. Read-only: the same
    computation as ``leadscore monitor drift``, which also records events past the thresholds."""
    from leadscore.interactions.frames import interactions_frame
    from leadscore.leads.frames import leads_frame
    from leadscore.registry import service as registry

    champion = registry.get_champion(session, dataset=dataset)
    if champion is None:
        return {"status": "skipped", "message": "no champion model", "features": []}
    artifact = registry.load_model(session, champion)
    if getattr(artifact, "drift", None) is None:
        return {"status": "skipped", "message": "the champion has no drift reference", "features": []}
    # The window ends now, or at the newest lead when the data stops earlier (an import of last year's leads).
    end = common.anchor(session, dataset)
    start = end - timedelta(days=window_days)
    ids = list(session.scalars(select(Lead.id).where(Lead.dataset == dataset, Lead.created_at >= start)
                               .order_by(Lead.id)))
    if len(ids) < MIN_DRIFT_ROWS:
        return {"status": "skipped", "message": f"only {len(ids)} leads in the last {window_days} days",
                "features": []}
    leads = leads_frame(session, dataset=dataset, lead_ids=ids)
    interactions = interactions_frame(session, dataset=dataset, lead_ids=ids)
    ix = interactions if len(interactions) else None
    model = artifact.model
    snapshot_days = model.metadata.get("config", {}).get("snapshot_days") or 7.0
    now = np.datetime64(pd.Timestamp(end).tz_convert("UTC").tz_localize(None).to_datetime64())
    as_of = np.minimum((leads["created_at"] + pd.Timedelta(days=snapshot_days)).to_numpy(dtype="datetime64[ns]"), now)
    report = artifact.drift.check(model.features(leads, ix, as_of=as_of),
                                  model.score(leads, ix, as_of=as_of, reasons=False)["score"].to_numpy())
    features = [{"subject": f["feature"], "psi": float(f["psi"]), "severity": f["status"]} for f in report.features]
    if report.score:
        features.append({"subject": "score", "psi": float(report.score["psi"]), "severity": report.score["status"]})
    features.sort(key=lambda f: -f["psi"])
    return {"status": report.status, "message": "", "features": features, "version": champion.version,
            "leads": len(ids), "window_days": window_days, "window_end": end.isoformat()}


def compute_admin(session: Session, dataset: str) -> dict[str, Any]:
    realised = admin.realised(session, dataset)
    calibration_version, calibration = admin.calibration_of_latest(session, dataset)
    return {
        "realised": _realised_records(realised),
        "calibration": calibration,
        "calibration_version": calibration_version,
        "drift": drift_per_feature(session, dataset),
        "quality": [asdict(q) for q in admin.data_quality(session, dataset)],
    }


COMPUTE: dict[str, Callable[[Session, str], dict[str, Any]]] = {"behaviour": compute_behaviour, "admin": compute_admin}


# --- storing and reading ------------------------------------------------------------------------

def _row(row: DashboardSnapshot) -> Snapshot:
    return Snapshot(row.dataset, row.kind, row.computed_at, row.seconds, list(row.fingerprint or []),
                    dict(row.data or {}))


def latest(session: Session, dataset: str, kind: str) -> Snapshot | None:
    row = session.get(DashboardSnapshot, (dataset, kind))
    return _row(row) if row is not None else None


def store(session: Session, dataset: str, kind: str, data: dict[str, Any], *, fingerprint: list[str],
          seconds: float, computed_at: datetime | None = None) -> Snapshot:
    """Replace the snapshot (an upsert, so two processes computing at once do not collide); flushes only."""
    values = {"dataset": dataset, "kind": kind, "computed_at": computed_at or utcnow(), "seconds": float(seconds),
              "fingerprint": fingerprint, "data": data}
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(DashboardSnapshot).values(**values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["dataset", "kind"],
        set_={k: statement.excluded[k] for k in ("computed_at", "seconds", "fingerprint", "data")}))
    session.flush()
    session.expire_all()
    return Snapshot(**values)


def compute(session: Session, dataset: str, kind: str) -> Snapshot:
    """Compute one snapshot and store it (flush only)."""
    started = time.perf_counter()
    mark = fingerprint(session, dataset, kind)
    data = COMPUTE[kind](session, dataset)
    return store(session, dataset, kind, data, fingerprint=mark, seconds=time.perf_counter() - started)


def is_stale(session: Session, snapshot: Snapshot, *, now: datetime | None = None) -> bool:
    """True when the data moved since the snapshot was computed, or it is older than ``MAX_AGE``."""
    if (now or utcnow()) - snapshot.computed_at > MAX_AGE:
        return True
    return snapshot.fingerprint != fingerprint(session, snapshot.dataset, snapshot.kind)


def datasets(session: Session) -> list[str]:
    return list(session.scalars(select(Lead.dataset).distinct().order_by(Lead.dataset)))


# --- turning stored data back into what the pages show ---------------------------------------------

def behaviour_rows(snapshot: Snapshot) -> tuple[list[behaviour.Behaviour], int, int]:
    data = snapshot.data
    return ([behaviour.Behaviour(**row) for row in data.get("rows", [])], int(data.get("closed", 0)),
            int(data.get("won", 0)))


def realised_frame(snapshot: Snapshot) -> pd.DataFrame:
    return pd.DataFrame(snapshot.data.get("realised") or [])


def quality_counts(snapshot: Snapshot) -> list[admin.QualityCount]:
    return [admin.QualityCount(**q) for q in snapshot.data.get("quality", [])]
