"""Warming the score cache at start-up: current scores only, never over a newer cached value."""

from __future__ import annotations

import pytest

from leadscore.core.database import session_scope
from leadscore.core.services import Services
from leadscore.scoring import service
from leadscore.scoring.service import ScoreRecord
from leadscore.scoring.tasks import cache_key, warm_cache
from leadscore.leads.models import Lead

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _record(lead_id: int, score: int) -> ScoreRecord:
    return ScoreRecord(lead_id=lead_id, probability=score / 100, score=score, grade="B",
                       reasons={"base_score": 10.0, "top_positive": [], "top_negative": []})


def test_warm_cache_loads_each_leads_current_score_without_overwriting(fresh_database):
    services = Services.open(fresh_database)
    try:
        with session_scope(services.runtime.sessions) as session:
            first, second, unscored = (Lead(dataset="default", external_id=f"w{i}") for i in range(3))
            session.add_all([first, second, unscored])
            session.flush()
            service.store(session, [_record(first.id, 40), _record(second.id, 50)], model_version_id=None)
            service.store(session, [_record(first.id, 60)], model_version_id=None)
            service.store(session, [_record(second.id, 90)], model_version_id=None, shadow=True)
            ids = first.id, second.id, unscored.id
        services.cache.set(cache_key(ids[1]), {"score": 55, "note": "newer, set by the real-time path"})
        assert warm_cache(services, limit=100) == 1
        warmed = services.cache.get(cache_key(ids[0]))
        assert warmed["score"] == 60 and warmed["trend"] == 20 and warmed["previous_score"] == 40
        assert services.cache.get(cache_key(ids[1]))["score"] == 55  # not replaced
        assert services.cache.get(cache_key(ids[2])) is None
        with session_scope(services.runtime.sessions, write=False) as session:
            assert service.payload(service.current(session, ids[0])) == warmed  # same document as a miss
        assert warm_cache(services, limit=0) == 0
    finally:
        services.close()


def test_warmed_entries_do_not_all_expire_together(fresh_database):
    import time

    services = Services.open(fresh_database)
    try:
        with session_scope(services.runtime.sessions) as session:
            leads = [Lead(dataset="default", external_id=f"t{i}") for i in range(12)]
            session.add_all(leads)
            session.flush()
            service.store(session, [_record(lead.id, 30 + i) for i, lead in enumerate(leads)], model_version_id=None)
            ids = [lead.id for lead in leads]
        started = time.monotonic()
        assert warm_cache(services, limit=100, batch=2) == 12
        ttl = services.cache.default_ttl
        left = {services.cache._data[cache_key(i)][0] - started for i in ids}  # in-process cache: expiry times
        assert len({round(x) for x in left}) > 1, "one expiry for every entry: they would all miss at once"
        assert all(0.5 * ttl - 1 <= x <= ttl + 1 for x in left)
    finally:
        services.close()
