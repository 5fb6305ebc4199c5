"""The cached-score fast path answers exactly as the FastAPI route would, and only in the ordinary case."""

from __future__ import annotations

import pytest

from leadscore.core.database import session_scope
from leadscore.core.security import keys
from leadscore.registry.tasks import run_training_job
from leadscore.scoring.fast_read import CachedScoreMiddleware
from leadscore.scoring.tasks import cache_key
from tests.api.helpers import no_wait, seed_history, wait_for
from tests.support.work import settle

ROUTE = "GET /v1/leads/{lead_id}/score"
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy", "ratelimit")


@pytest.fixture
def answered(monkeypatch) -> list[bool]:
    """What the fast path did per request: True answered itself, False handed over to the route."""
    outcomes: list[bool] = []
    original = CachedScoreMiddleware._answer

    async def spy(self, scope, lead_id, send):  # noqa: ANN001, ANN202
        outcomes.append(await original(self, scope, lead_id, send))
        return outcomes[-1]

    monkeypatch.setattr(CachedScoreMiddleware, "_answer", spy)
    return outcomes


@pytest.fixture
def scored_lead(api) -> int:
    services = api.client.app.state.services
    seed_history(services)
    assert run_training_job(services.runtime.sessions, dataset="default").promoted
    lead = api.client.post("/v1/leads", json={"intent": "buy"}, headers=api.write).json()
    wait_for(lambda: services.cache.get(cache_key(lead["id"])) is not None)
    # The promotion's rescoring of open leads may reach this lead after its first score: let it
    # finish, or it could cache the score again after a test has dropped it.
    settle(services)
    return lead["id"]


def _key(api, **options) -> dict[str, str]:  # noqa: ANN001, ANN003
    settings = api.client.app.state.services.settings
    with session_scope(api.client.app.state.services.runtime.sessions) as session:
        key = keys.create_key(session, settings, name="fast", scopes=["read"], **options).key
    return {"X-API-Key": key}


def test_the_fast_answer_is_the_routes_answer(api, scored_lead, answered):
    c, guard, services = api.client, api.client.app.state.security, api.client.app.state.services
    guard.cache.clear()  # the key is not validated in this process yet: the route must answer
    by_route = c.get(f"/v1/leads/{scored_lead}/score", headers=api.read)
    hits = services.cache.hits
    fast = c.get(f"/v1/leads/{scored_lead}/score", headers=api.read)
    assert answered == [False, True]
    assert services.cache.hits == hits + 1
    assert fast.status_code == by_route.status_code == 200
    assert fast.content == by_route.content
    assert fast.headers["content-type"] == by_route.headers["content-type"] == "application/json"
    assert all(name in fast.headers for name in RATE_HEADERS)
    # Each request counted once against the rate, whichever path answered.
    assert int(by_route.headers["ratelimit-remaining"]) - int(fast.headers["ratelimit-remaining"]) == 1
    principal = guard.cached_principal(api.read["Authorization"].split()[1])
    pending = guard.usage.pending(principal.key_id)
    assert sum(n for (_, _, route, status), n in pending.items() if route == ROUTE and status == "2xx") == 2
    exposition = c.get("/metrics").text
    assert 'leadscore_http_requests_total{method="GET",route="/v1/leads/{lead_id}/score",status="200"} ' \
           in exposition


def test_unusual_requests_get_the_routes_answers(api, scored_lead, answered):
    c, services = api.client, api.client.app.state.services
    c.get(f"/v1/leads/{scored_lead}/score", headers=api.read)  # validates the read key in this process
    c.get(f"/v1/leads/{scored_lead}/score", headers=api.score)  # and the score key (no read scope)
    answered.clear()
    missing = c.get(f"/v1/leads/{scored_lead}/score")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong_scope = c.get(f"/v1/leads/{scored_lead}/score", headers=api.score)
    assert wrong_scope.status_code == 403 and "'read' scope" in wrong_scope.json()["detail"]
    bad_scheme = c.get(f"/v1/leads/{scored_lead}/score", headers={"Authorization": "Basic abc"})
    assert bad_scheme.status_code == 401
    assert c.get("/v1/leads/99999999/score", headers=api.read).status_code == 404
    assert c.get("/v1/leads/99999999999/score", headers=api.read).status_code == 422  # past the id range
    assert answered == [False, False, False, False]  # the last one never matched the fast path's pattern

    services.cache.delete(cache_key(scored_lead))
    misses = services.cache.misses
    rebuilt = c.get(f"/v1/leads/{scored_lead}/score", headers=api.read)
    assert rebuilt.status_code == 200 and answered[-1] is False
    assert services.cache.misses == misses + 1  # the route does not ask the cache again
    assert c.get(f"/v1/leads/{scored_lead}/score", headers=api.read).content == rebuilt.content
    assert answered[-1] is True


def test_over_the_rate_the_fast_path_refuses_as_the_route_does(api, scored_lead, answered):
    c, guard = api.client, api.client.app.state.security
    headers = _key(api, rate_limit="2/minute")
    assert c.get(f"/v1/leads/{scored_lead}/score", headers=headers).status_code == 200  # route: validates the key
    assert c.get(f"/v1/leads/{scored_lead}/score", headers=headers).status_code == 200  # fast
    fast = c.get(f"/v1/leads/{scored_lead}/score", headers=headers)
    guard.cache.clear()
    by_route = c.get(f"/v1/leads/{scored_lead}/score", headers=headers)
    assert answered == [False, True, True, False]
    assert fast.status_code == by_route.status_code == 429
    assert fast.headers["content-type"] == by_route.headers["content-type"] == "application/problem+json"
    assert no_wait(fast.json()) == no_wait(by_route.json())  # a second may pass between the two
    assert "rate limit of 2/minute exceeded" in fast.json()["detail"]
    assert int(fast.headers["retry-after"]) >= 1 and fast.headers["ratelimit-remaining"] == "0"


def test_an_unavailable_cache_is_a_503_not_a_500(api, scored_lead, answered, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    c, services = api.client, api.client.app.state.services
    c.get(f"/v1/leads/{scored_lead}/score", headers=api.read)  # validates the key in this process

    async def saturated(key: str) -> bytes:
        raise RedisConnectionError("No connection available.")

    monkeypatch.setattr(services.cache, "aget_json", saturated)
    answer = c.get(f"/v1/leads/{scored_lead}/score", headers=api.read)
    assert answered[-1] is False  # the fast path handed it over
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    assert "score cache is unavailable (ConnectionError)" in answer.json()["detail"]
