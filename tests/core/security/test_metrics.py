"""/metrics: request counters by route template, domain counters, queue depth, cache ratio."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadscore.core import metrics, outbox
from leadscore.core.database import session_scope, utcnow
from leadscore.core.outbox import OutboxMessage
from tests.core.security.conftest import bearer, serve

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def _value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@SQLITE_ONLY
def test_request_counters_and_latency_by_route_template(client, issue_key):
    key = issue_key("admin")
    for key_id in (key.row.id, 2_000_000_001, 2_000_000_002):
        client.get(f"/v1/keys/{key_id}", headers=bearer(key))
    client.get("/v1/keys", headers={})
    client.get("/no/such/path/12345")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    # Templates, not raw paths: three ids make one series.
    assert _value(samples, "leadscore_http_requests_total", method="GET", route="/v1/keys/{key_id}", status="200") == 1
    assert _value(samples, "leadscore_http_requests_total", method="GET", route="/v1/keys/{key_id}", status="404") == 2
    assert _value(samples, "leadscore_http_requests_total", method="GET", route="/v1/keys", status="401") == 1
    assert _value(samples, "leadscore_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    latency = "leadscore_http_request_duration_seconds_count"
    assert _value(samples, latency, method="GET", route="/v1/keys/{key_id}") == 3
    assert "2000000001" not in response.text and "12345" not in response.text


def test_domain_counters_queue_depth_and_cache(fresh_database):
    with serve(fresh_database) as client:
        _domain_counters_queue_depth_and_cache(client, client.app.state.runtime)


def _domain_counters_queue_depth_and_cache(client, runtime):
    before = _samples(client.get("/metrics").text)
    metrics.scores_computed(5)
    metrics.scores_computed(0)
    metrics.webhook_delivery("delivered")
    metrics.webhook_delivery("failed")
    metrics.webhook_delivery("delivered")
    client.app.state.services.dispatcher.stop()  # keep the rows undispatched while we look
    with session_scope(runtime.sessions) as session:
        outbox.enqueue(session, "test.nothing", {"n": 1})
        outbox.enqueue(session, "test.nothing", {"n": 2})
        # Failed work: one waiting for its retry (still queued), one out of retries (parked, not queued).
        session.add(OutboxMessage(topic="test.nothing", payload={"n": 3}, retry=1,
                                  available_at=utcnow() + timedelta(hours=1)))
        session.add(OutboxMessage(topic="test.nothing", payload={"n": 4}, retry=5, failed_at=utcnow()))
    cache = client.app.state.services.cache
    cache.set("metrics-test", {"x": 1})
    cache.get("metrics-test"), cache.get("metrics-test"), cache.get("missing")
    after = _samples(client.get("/metrics").text)

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("leadscore_scores_computed_total") == 5
    assert delta("leadscore_webhook_deliveries_total", outcome="delivered") == 2
    assert delta("leadscore_webhook_deliveries_total", outcome="failed") == 1
    assert _value(after, "leadscore_queue_depth") == 3
    assert _value(after, "leadscore_tasks_retrying") == 1 and _value(after, "leadscore_tasks_parked") == 1
    assert delta("leadscore_cache_hits_total") == 2 and delta("leadscore_cache_misses_total") == 1
    ratio = _value(after, "leadscore_cache_hit_ratio")
    assert ratio == pytest.approx(cache.hits / (cache.hits + cache.misses))


@SQLITE_ONLY
def test_each_app_has_its_own_registry(settings):
    with serve(settings) as first, serve(settings) as second:
        first.get("/healthz")
        first.get("/healthz")
        second.get("/healthz")
        a, b = _samples(first.get("/metrics").text), _samples(second.get("/metrics").text)
    assert _value(a, "leadscore_http_requests_total", method="GET", route="/healthz", status="200") == 2
    assert _value(b, "leadscore_http_requests_total", method="GET", route="/healthz", status="200") == 1


@SQLITE_ONLY
def test_metrics_can_require_an_admin_key(settings, issue_key):
    with serve(settings.model_copy(update={"metrics_require_key": True})) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer(issue_key("read"))).status_code == 403
        assert client.get("/metrics", headers=bearer(issue_key("admin"))).status_code == 200
        assert client.get("/healthz").status_code == 200
