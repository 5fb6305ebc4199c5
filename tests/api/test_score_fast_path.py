"""The stateless-scoring fast path answers exactly as the FastAPI route would, and only in the ordinary case."""

from __future__ import annotations

import json

import pytest

from leadscore.core.database import session_scope
from leadscore.core.security import keys
from tests.api.helpers import no_wait
from tests.api.stateless_support import BODY, FORCE_ROUTE, RATE_HEADERS, answered, champion  # noqa: F401

ROUTE = "POST /v1/score"


def _key(api, **options) -> dict[str, str]:  # noqa: ANN001, ANN003
    settings = api.client.app.state.services.settings
    with session_scope(api.client.app.state.services.runtime.sessions) as session:
        key = keys.create_key(session, settings, name="fast", scopes=["score"], **options).key
    return {"X-API-Key": key}


def test_the_fast_answer_is_the_routes_answer(api, champion, answered):
    c, guard = api.client, api.client.app.state.security
    answered.append(FORCE_ROUTE)
    by_route = c.post("/v1/score", json=BODY, headers=api.score)
    guard.cache.clear()  # the fast path authenticates a key it has not seen as the route does
    fast = c.post("/v1/score", json=BODY, headers=api.score)
    again = c.post("/v1/score", json=BODY, headers=api.score)
    assert answered == [False, True, True]
    assert fast.status_code == by_route.status_code == 200
    assert fast.content == by_route.content == again.content
    assert [r["ref"] for r in fast.json()["results"]] == ["a", "b"]
    assert fast.headers["content-type"] == by_route.headers["content-type"] == "application/json"
    assert all(name in fast.headers for name in RATE_HEADERS)
    # Each request counted once against the rate, whichever path answered.
    assert int(by_route.headers["ratelimit-remaining"]) - int(fast.headers["ratelimit-remaining"]) == 1
    principal = guard.cached_principal(api.score["Authorization"].split()[1])
    pending = guard.usage.pending(principal.key_id)
    assert sum(n for (_, _, route, status), n in pending.items() if route == ROUTE and status == "2xx") == 3
    assert 'leadscore_http_requests_total{method="POST",route="/v1/score",status="200"} 3.0' \
        in c.get("/metrics").text


def test_unusual_requests_get_the_routes_answers(api, champion, answered):
    c = api.client
    assert c.post("/v1/score", json=BODY, headers=api.score).status_code == 200
    answered.clear()
    missing = c.post("/v1/score", json=BODY)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert c.post("/v1/score", json=BODY, headers={"Authorization": "Bearer ls_nope_nope"}).status_code == 401
    wrong_scope = c.post("/v1/score", json=BODY, headers=api.read)
    assert wrong_scope.status_code == 403 and "'score' scope" in wrong_scope.json()["detail"]
    invalid = c.post("/v1/score", json={"leads": [{"price_min": 5, "price_max": 1, "bogus": 1}]}, headers=api.score)
    assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in invalid.json()["errors"]} >= {"body.leads.0.bogus"}
    broken = c.post("/v1/score", content=b'{"leads": [', headers={**api.score, "content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["errors"][0]["type"] == "json_invalid"
    as_text = c.post("/v1/score", content=b'{"leads": [{}]}', headers={**api.score, "content-type": "text/plain"})
    assert as_text.status_code == 422  # FastAPI does not read it as JSON; neither does the fast path
    no_model = c.post("/v1/score", json={**BODY, "dataset": "elsewhere"}, headers=api.score)
    assert no_model.status_code == 409 and "no champion" in no_model.json()["detail"]
    # PostgreSQL cannot bind a NUL: such a dataset name is refused as input, not looked up (it was a 500).
    nul = c.post("/v1/score", json={**BODY, "dataset": "de\u0000fault"}, headers=api.score)
    assert nul.status_code == 422 and [e["field"] for e in nul.json()["errors"]] == ["body.dataset"]
    assert answered == [False] * 8


@pytest.mark.parametrize(("lead", "field"), [
    ({"interactions": [{"type": "showing", "occurred_at": "3000-01-01T00:00:00Z"}]},
     "body.leads.0.interactions.0.occurred_at"),
    ({"created_at": "0002-01-01T00:00:00Z"}, "body.leads.0.created_at"),
])
def test_times_outside_the_models_range_are_a_problem_not_a_500(api, champion, answered, lead, field):
    # They overflowed the features' 64-bit nanoseconds inside the scoring: a 500.
    response = api.client.post("/v1/score", json={"leads": [{"ref": "far", **lead}]}, headers=api.score)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert answered == [False]  # the fast path refused the body too, and left it to the route


def test_over_the_rate_the_fast_path_refuses_as_the_route_does(api, champion, answered):
    c, guard = api.client, api.client.app.state.security
    headers = _key(api, rate_limit="2/minute")
    assert c.post("/v1/score", json=BODY, headers=headers).status_code == 200
    assert c.post("/v1/score", json=BODY, headers=headers).status_code == 200
    fast = c.post("/v1/score", json=BODY, headers=headers)
    answered.append(FORCE_ROUTE)
    guard.cache.clear()
    by_route = c.post("/v1/score", json=BODY, headers=headers)
    assert answered == [True, True, True, False]
    assert fast.status_code == by_route.status_code == 429
    assert fast.headers["content-type"] == by_route.headers["content-type"] == "application/problem+json"
    # The same problem, but for the seconds to wait: a second may pass between the two (it did under load).
    assert no_wait(fast.json()) == no_wait(by_route.json())
    assert "rate limit of 2/minute exceeded" in fast.json()["detail"]
    assert int(fast.headers["retry-after"]) >= 1 and fast.headers["ratelimit-remaining"] == "0"


def test_the_route_still_documents_the_body(api):
    operation = api.client.get("/openapi.json").json()["paths"]["/v1/score"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ScoreRequest"}


def test_bodies_only_json_loads_reads_go_to_the_route(api, champion, answered):
    c = api.client
    expected = c.post("/v1/score", json=BODY, headers=api.score)
    answered.clear()
    plain = json.dumps(BODY)
    for body in (b"\xef\xbb\xbf" + plain.encode(), plain.encode("utf-16")):
        answer = c.post("/v1/score", content=body, headers={**api.score, "content-type": "application/json"})
        assert answer.status_code == 200 and answer.content == expected.content
    assert answered == [False, False]


@pytest.mark.parametrize("body", [
    '{"leads": [{"ref": "a", "ref": "b", "attributes": {"n": 123456789012345678901234567890, "x": 1e400}}],'
    ' "dataset": "x", "dataset": "default"}',
    '{"leads": [{"attributes": {"f": 0.1, "g": 1.7976931348623157e308, "h": 5e-324, "i": -0.0, "j": 12.345678901}}]}',
    '{"leads": [{"ref": "\\u00e9\\u0000 \\ud83d\\ude00", "postcode": " 98103 ", "price_max": 1, "bedrooms": 2}]}',
    '{"leads": [{"interactions": [{"type": "showing", "occurred_at": "2026-01-12 10:00:00.5-05:30"}]}]}',
    '{"leads": [{"bedrooms": 1.0}]}', '{"leads": [{"ref": "\\ud800"}]}', '{"leads": [{"ref": "a"}]} x',
    '{"leads": [{"created_at": 1700000000}]}', '{"leads": [{"attributes": {"a": NaN}}]}',
])
def test_validate_json_reads_what_it_accepts_as_fastapi_does(body):
    from pydantic import TypeAdapter, ValidationError

    from leadscore.scoring.schemas import ScoreRequest

    adapter = TypeAdapter(ScoreRequest)
    try:
        ours = adapter.validate_json(body.encode()).model_dump()
    except ValidationError:
        return  # the route decides
    fastapis = adapter.validate_python(json.loads(body.encode())).model_dump()
    assert repr(ours) == repr(fastapis)  # repr: NaN is not equal to itself
