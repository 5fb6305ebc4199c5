"""/v1/models: versions, promotion with the champion check, rollback, retraining through the outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from leadscore.core.database import session_scope
from leadscore.registry.models import TrainingJob
from leadscore.registry.tasks import run_training_job
from tests.api.helpers import seed_history, wait_for

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _retrain(api) -> dict:
    c = api.client
    queued = c.post("/v1/models/retrain", json={"dataset": "default"}, headers=api.admin)
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued" and queued.json()["trigger"] == "api"
    job_id = queued.json()["id"]
    return wait_for(lambda: (r := c.get(f"/v1/models/jobs/{job_id}", headers=api.read).json())["status"]
                    in ("succeeded", "failed") and r)


def _stateless_model(api) -> int:
    scored = api.client.post("/v1/score", json={"leads": [{"ref": "x", "pre_approved": True}]}, headers=api.score)
    assert scored.status_code == 200, scored.text
    return scored.json()["model_version_id"]


def test_retrain_promote_rollback_and_states(api):
    c = api.client
    services = c.app.state.services
    seed_history(services)
    first = _retrain(api)
    assert first["status"] == "succeeded" and first["promoted"], first
    # The handler ran the job the request queued; it did not create another.
    jobs = c.get("/v1/models/jobs", headers=api.read).json()
    # (The forecasting models train alongside, each in a job of its own kind.)
    assert len([j for j in jobs if j["kind"] == "conversion"]) == 1
    v1 = first["model_version_id"]
    assert _stateless_model(api) == v1
    listed = c.get("/v1/models", params={"dataset": "default", "kind": "conversion"}, headers=api.read).json()
    assert [(m["id"], m["state"]) for m in listed] == [(v1, "champion")]
    detail = c.get(f"/v1/models/{v1}", headers=api.read).json()
    assert detail["state"] == "champion" and "champion_comparison" in detail["metrics"]

    second = _retrain(api)  # the rules fallback never replaces a champion: kept as a candidate
    assert second["status"] == "succeeded" and not second["promoted"]
    v2 = second["model_version_id"]
    assert c.get("/v1/models/{}".format(v2), headers=api.read).json()["metrics"]["champion_comparison"]["allowed"] is False
    refused = c.post(f"/v1/models/{v2}/promote", json={}, headers=api.admin)
    assert refused.status_code == 409 and "force" in refused.json()["detail"]
    forced = c.post(f"/v1/models/{v2}/promote", json={"force": True}, headers=api.admin)
    assert forced.status_code == 200 and forced.json()["state"] == "champion"
    assert c.get(f"/v1/models/{v1}", headers=api.read).json()["state"] == "retired"
    wait_for(lambda: _stateless_model(api) == v2)  # the promotion reaches the in-process champion cache
    assert c.post(f"/v1/models/{v2}/promote", json={}, headers=api.admin).status_code == 409  # already champion

    back = c.post("/v1/models/rollback", json={"dataset": "default"}, headers=api.admin)
    assert back.status_code == 200 and back.json()["id"] == v1
    wait_for(lambda: _stateless_model(api) == v1)
    assert c.post(f"/v1/models/{v2}/challenger", headers=api.admin).json()["state"] == "challenger"
    assert [m["id"] for m in c.get("/v1/models", params={"state": "challenger"}, headers=api.read).json()] == [v2]
    assert c.post(f"/v1/models/{v2}/retire", headers=api.admin).json()["state"] == "retired"
    assert c.post(f"/v1/models/{v1}/retire", headers=api.admin).status_code == 409  # the champion
    assert c.post("/v1/models/rollback", json={"dataset": "nothing"}, headers=api.admin).status_code == 409

    drift = c.get("/v1/models/drift", params={"dataset": "default"}, headers=api.read)
    assert drift.status_code == 200 and drift.json()["champion_id"] == v1 and drift.json()["events"] == []
    performance = c.get("/v1/models/performance", params={"dataset": "default", "freq": "M"}, headers=api.read)
    assert performance.status_code == 200 and performance.json()["rows"] == []


def test_a_redelivered_retrain_message_does_not_train_twice(api):
    services = api.client.app.state.services
    seed_history(services)
    job = _retrain(api)
    again = run_training_job(services.runtime.sessions, dataset="default", job_id=job["id"])
    assert again.status == "succeeded" and again.job_id == job["id"]
    with session_scope(services.runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(TrainingJob).where(TrainingJob.kind == "conversion")) == 1


def test_models_errors_and_scopes(api):
    c = api.client
    assert c.post("/v1/models/retrain", json={"dataset": "default"}, headers=api.write).status_code == 403
    assert c.get("/v1/models", headers=api.score).status_code == 403
    missing = c.get("/v1/models/999999", headers=api.read)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert c.get("/v1/models/jobs/999999", headers=api.read).status_code == 404
    assert c.post("/v1/models/999999/promote", json={}, headers=api.admin).status_code == 404
    bad = c.post("/v1/models/retrain", json={"dataset": "no spaces"}, headers=api.admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.dataset"
    assert c.get("/v1/models", params={"state": "asleep"}, headers=api.read).status_code == 422
    failed = _retrain(api)  # nothing to learn from: the job fails, nothing breaks
    assert failed["status"] == "failed" and "outcome" in failed["message"]
