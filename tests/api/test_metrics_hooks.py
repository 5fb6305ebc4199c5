"""/metrics moves when scores are computed, webhooks delivered, the cache hit and the outbox fills."""

from __future__ import annotations

import re

import pytest

from leadscore.registry.tasks import run_training_job
from tests.api.helpers import seed_history, wait_for
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _metric(client, name: str, labels: str = "") -> float:
    text = client.get("/metrics").text
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_follow_scoring_webhooks_and_cache(api):
    c = api.client
    services = c.app.state.services
    seed_history(services)
    assert run_training_job(services.runtime.sessions, dataset="default").promoted
    receiver = Receiver().start()
    try:
        c.post("/v1/webhooks", json={"url": receiver.url, "events": ["lead.created"]}, headers=api.admin)
        scores = _metric(c, "leadscore_scores_computed_total")
        delivered = _metric(c, "leadscore_webhook_deliveries_total", '{outcome="delivered"}')
        hits = _metric(c, "leadscore_cache_hits_total")
        assert "leadscore_queue_depth" in c.get("/metrics").text

        lead = c.post("/v1/leads", json={"intent": "buy"}, headers=api.write).json()
        wait_for(lambda: c.get(f"/v1/leads/{lead['id']}/score", headers=api.read).status_code == 200)
        assert _metric(c, "leadscore_scores_computed_total") >= scores + 1
        stateless = c.post("/v1/score", json={"leads": [{"ref": "a"}, {"ref": "b"}]}, headers=api.score)
        assert stateless.status_code == 200
        assert _metric(c, "leadscore_scores_computed_total") >= scores + 3

        c.get(f"/v1/leads/{lead['id']}/score", headers=api.read)  # warm: served from the cache
        assert _metric(c, "leadscore_cache_hits_total") > hits
        assert _metric(c, "leadscore_cache_hit_ratio") > 0

        wait_for(lambda: _metric(c, "leadscore_webhook_deliveries_total", '{outcome="delivered"}') > delivered)
        receiver.default_status = 500
        c.post("/v1/leads", json={"intent": "sell"}, headers=api.write)
        wait_for(lambda: _metric(c, "leadscore_webhook_deliveries_total", '{outcome="failed"}') > 0)
    finally:
        receiver.stop()
