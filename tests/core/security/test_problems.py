"""Errors are RFC 9457 problem+json with field detail, and /openapi.json says so."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from leadscore.core.problems import PROBLEM_JSON
from tests.core.security.conftest import bearer

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "x", "scopes": ["read", "root"]}, {"body.scopes.1"}),
        ({"name": "", "scopes": []}, {"body.name", "body.scopes"}),
        ({"name": "x", "scopes": ["read"], "rate_limit": "lots"}, {"body.rate_limit"}),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, {"body.expires_in_days"}),
        ({"name": "nul\u0000byte", "scopes": ["read"]}, {"body.name"}),
        ({"name": "x", "scopes": ["read"], "owner": "me"}, {"body.owner"}),
        ({"scopes": ["read"]}, {"body.name"}),
    ],
)
def test_bad_bodies_get_field_level_problems(client, issue_key, body, fields):
    response = client.post("/v1/keys", headers=bearer(issue_key("admin")), json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert set(problem) >= {"type", "title", "status", "detail", "instance", "errors"}
    assert problem["status"] == 422 and problem["instance"] == "/v1/keys"
    assert {e["field"] for e in problem["errors"]} == fields
    assert all(e["message"] and e["type"] for e in problem["errors"])


@SQLITE_ONLY
def test_broken_json_and_out_of_range_ids_are_422_not_500(client, issue_key):
    headers = {**bearer(issue_key("admin")), "content-type": "application/json"}
    assert client.post("/v1/keys", headers=headers, content=b'{"name": "x", "scopes": [').status_code == 422
    lone_surrogate = b'{"name": "\\ud800", "scopes": ["read"]}'
    assert client.post("/v1/keys", headers=headers, content=lone_surrogate).status_code == 422
    assert client.get(f"/v1/keys/{2**63}", headers=headers).status_code == 422
    assert client.get("/v1/keys/me/usage?days=100000", headers=headers).status_code == 422


def test_openapi_documents_problems_security_and_examples(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"BearerKey", "ApiKeyHeader"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    create = schema["paths"]["/v1/keys"]["post"]
    for status in ("401", "403", "422", "429"):
        assert list(create["responses"][status]["content"]) == [PROBLEM_JSON]
    assert "Retry-After" in create["responses"]["429"]["headers"]
    assert create["security"] and create["description"]
    for name in ("ApiKeyCreate", "ApiKeyCreated", "ApiKeyRead", "UsageReport", "ProblemDetail"):
        assert schema["components"]["schemas"][name]["examples"], name
    # Health stays open and undocumented for auth errors.
    assert "401" not in schema["paths"]["/healthz"]["get"]["responses"]


def _needs_key(dependant) -> bool:
    return any(
        hasattr(dep.call, "required_scope") or _needs_key(dep) for dep in dependant.dependencies
    )


def test_every_v1_route_requires_an_api_key(client):
    """Grows with the app: a domain router that forgets require_scope fails here."""
    from fastapi.routing import iter_route_contexts

    open_routes = [
        context.path_format
        for context in iter_route_contexts(client.app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.path_format.startswith("/v1/")
        and not _needs_key(context.original_route.dependant)
    ]
    assert open_routes == []


def test_a_value_the_database_refuses_is_a_422_not_a_500():
    """PostgreSQL text cannot hold NUL characters; that is bad input, reported as such."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import DataError

    from leadscore.core import problems

    app = FastAPI()
    problems.install(app)

    @app.post("/store")
    def store() -> None:
        raise DataError("INSERT ...", {}, Exception("unsupported Unicode escape sequence"))

    response = TestClient(app, raise_server_exceptions=False).post("/store")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "unsupported Unicode escape sequence" in response.json()["detail"]
