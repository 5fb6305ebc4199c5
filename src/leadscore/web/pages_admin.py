"""The administrator's page: models, realised accuracy, calibration, drift, retraining, data quality."""

from __future__ import annotations

import json

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from leadscore.core.deps import RuntimeDep, SessionDep
from leadscore.core.routes import router as api_router
from leadscore.insights import service as insights
from leadscore.insights import tasks as insights_tasks
from leadscore.web.api import render
from leadscore.web.auth import AdminDep
from leadscore.web.charts import calibration_chart, realised_charts
from leadscore.web.pages_team import latest_snapshot, pick_dataset

router = api_router(include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
               dataset: str | None = Query(None, max_length=64)) -> HTMLResponse:
    dataset, sets = pick_dataset(session, dataset)
    if dataset is None:
        return render(request, "admin.html", user, dataset=None, datasets=sets)
    snapshot, stale = latest_snapshot(session, runtime, dataset, "admin")
    charts = realised_charts(insights.realised_frame(snapshot))
    calibration = calibration_chart(snapshot.data.get("calibration") or [])
    return render(request, "admin.html", user, dataset=dataset, datasets=sets,
                  versions=insights.model_versions(session, dataset),
                  auc_chart=json.dumps(charts[0]) if charts else None,
                  gap_chart=json.dumps(charts[1]) if charts else None,
                  calibration_chart=json.dumps(calibration) if calibration else None,
                  calibration_version=snapshot.data.get("calibration_version"),
                  feature_drift=snapshot.data.get("drift") or {}, drift=insights.drift(session, dataset),
                  jobs=insights.training_history(session, dataset), quality=insights.quality_counts(snapshot),
                  imports=insights.failed_imports(session, dataset), snapshot=snapshot, stale=stale,
                  refresh_minutes=insights_tasks.REFRESH_MINUTES)
