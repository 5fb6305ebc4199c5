"""A serving process loads every champion before its first request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadscore.core.database import session_scope
from leadscore.core.services import Services
from leadscore.leads.models import Lead, Outcome
from leadscore.registry import service as registry
from leadscore.registry.tasks import run_training_job
from leadscore.scoring.model_cache import ModelCache


def test_preload_reads_each_champion_and_loads_its_model(services: Services, monkeypatch):
    begin = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(services.runtime.sessions) as session:
        for i in range(30):
            lead = Lead(dataset="pl", external_id=f"p{i}", created_at=begin + timedelta(days=i), attributes={},
                        pre_approved=i % 2 == 0, timeline_months=3, status="won" if i % 3 == 0 else "lost")
            session.add(lead)
            session.flush()
            session.add(Outcome(lead_id=lead.id, result=lead.status, closed_at=lead.created_at + timedelta(days=20)))
    trained = run_training_job(services.runtime.sessions, dataset="pl")
    assert trained.promoted
    cache = ModelCache()
    assert cache.preload(services.runtime.sessions) == ["pl"]

    def no_reads(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a request after the preload read the database")

    monkeypatch.setattr(registry, "get_champion", no_reads)
    monkeypatch.setattr(registry, "load_model", no_reads)
    version_id, model = cache.fresh_champion("pl")
    assert version_id == trained.version_id and hasattr(model, "score_one")
