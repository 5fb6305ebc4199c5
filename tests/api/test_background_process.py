"""Embedded background work in the helper process: the real-time path runs there, its cache writes
and counters reach the API, and the API takes the work back while the helper is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadscore import background_process
from leadscore.background_process import BackgroundProcess
from leadscore.core import metrics
from leadscore.core.database import session_scope
from leadscore.core.outbox import OutboxMessage
from leadscore.registry.tasks import run_training_job
from leadscore.scoring.model_cache import model_cache
from leadscore.scoring.tasks import cache_key
from tests.api.helpers import seed_history, wait_for
from tests.webhooks.receiver import Receiver


def _interactions(lead_id: int, kinds: list[str]) -> dict:
    now = datetime.now(UTC)
    return {"items": [{"lead_id": lead_id, "type": kind, "direction": "inbound",
                       "occurred_at": (now - timedelta(minutes=n)).isoformat()} for n, kind in enumerate(kinds)]}


def _unsent(services) -> int:
    with session_scope(services.runtime.sessions, write=False) as session:
        return session.scalar(select(func.count()).where(OutboxMessage.dispatched_at.is_(None)))


@pytest.mark.slow
def test_the_helper_runs_the_real_time_path_and_the_api_takes_over_while_it_is_gone(api, monkeypatch):
    monkeypatch.setattr(background_process, "RESTART_AFTER", 0.1)
    c = api.client
    services = c.app.state.services
    seed_history(services)
    assert run_training_job(services.runtime.sessions, dataset="default").promoted
    handled_here: list[str] = []  # topics this (the API's) process ran itself
    handle_many = services.tasks.handle_many
    monkeypatch.setattr(services.tasks, "handle_many",
                        lambda topic, payloads: (handled_here.append(topic), handle_many(topic, payloads))[1])
    receiver = Receiver().start()
    background = BackgroundProcess(services)
    c.portal.call(background.start)  # on the app's own event loop, as the served app does
    try:
        secret = c.post("/v1/webhooks", json={"url": receiver.url, "events": ["score.changed"]},
                        headers=api.admin).json()["secret"]
        wait_for(lambda: background.ready, 120)
        assert services.dispatcher.forwarding
        helper = background._process
        scores_before, webhooks_before = metrics.domain_counts()
        handled_here.clear()

        lead = c.post("/v1/leads", json={"intent": "buy", "pre_approved": False}, headers=api.write).json()
        first = wait_for(lambda: services.cache.get(cache_key(lead["id"])))  # written by the helper
        assert c.post("/v1/interactions/batch", json=_interactions(lead["id"], ["listing_view"] * 10 + ["showing"]),
                      headers=api.write).status_code == 202
        c.patch(f"/v1/leads/{lead['id']}", json={"pre_approved": True}, headers=api.write)
        changed = wait_for(lambda: [r for r in receiver.requests if r.json["data"]["lead_id"] == lead["id"]])
        payload = changed[-1].verify(secret)
        assert payload["type"] == "score.changed" and payload["data"]["score"] > first["score"]
        assert wait_for(lambda: (s := services.cache.get(cache_key(lead["id"])))
                        and s["score"] == payload["data"]["score"])
        assert handled_here == []  # every step ran in the helper
        # Its counters reach this process's (and /metrics'): two scores, one delivery at least.
        wait_for(lambda: metrics.domain_counts()[0] >= scores_before + 2)
        wait_for(lambda: metrics.domain_counts()[1].get("delivered", 0) > webhooks_before.get("delivered", 0))
        assert 'leadscore_webhook_deliveries_total{outcome="delivered"}' in c.get("/metrics").text
        wait_for(lambda: _unsent(services) == 0)  # and the helper marked the rows it was handed

        # The helper dies: the API runs the work itself, then a new helper takes it back.
        helper.kill()
        wait_for(lambda: not services.dispatcher.forwarding, 30)
        c.patch(f"/v1/leads/{lead['id']}", json={"pre_approved": False}, headers=api.write)
        wait_for(lambda: len([r for r in receiver.requests if r.json["data"]["lead_id"] == lead["id"]]) == 2)
        assert "lead.rescore" in handled_here and "webhook.deliver" in handled_here
        wait_for(lambda: background.ready and background._process is not helper, 120)
        handled_here.clear()
        c.patch(f"/v1/leads/{lead['id']}", json={"pre_approved": True}, headers=api.write)
        wait_for(lambda: len([r for r in receiver.requests if r.json["data"]["lead_id"] == lead["id"]]) == 3, 30)
        assert handled_here == []
        wait_for(lambda: _unsent(services) == 0)
    finally:
        child = background._process
        c.portal.call(background.close)
        receiver.stop()
    assert not child.is_alive()
    assert not services.dispatcher.forwarding


def test_what_the_helper_sends_is_applied_to_the_apis_cache_models_and_counters(api):
    services = api.client.app.state.services
    background = BackgroundProcess(services)
    background._process = type("Process", (), {"pid": 0})()
    services.cache.set("score:1", {"score": 1})
    services.cache.set("score:2", {"score": 2})
    services.cache.set("other", {"kept": True})
    background._apply(("cache", "set", ("score:3", {"score": 3}, None)))
    background._apply(("cache", "delete", ("score:1",)))
    background._apply(("cache", "close", ()))  # only writes are taken: the cache stays open
    assert services.cache.get("score:3") == {"score": 3} and services.cache.get("score:1") is None
    background._apply(("cache", "clear_prefix", ("score:",)))
    assert services.cache.get("score:2") is None and services.cache.get("other") == {"kept": True}
    assert background._apply(("cache", "add_many", ({"score:4": {"score": 4}}, None))) is None
    assert services.cache.get("score:4") == {"score": 4}

    models = model_cache(services)
    models._models[99] = object()
    background._apply(("models_clear",))
    assert 99 not in models._models

    scores, webhooks = metrics.domain_counts()
    background._apply(("counters", 3, {"delivered": 2}))
    assert metrics.domain_counts() == (scores + 3, {**webhooks, "delivered": webhooks.get("delivered", 0) + 2})

    assert not services.dispatcher.forwarding
    background._apply(("ready",))
    assert background.ready and services.dispatcher.forwarding
    services.dispatcher.forward_commits(None)
