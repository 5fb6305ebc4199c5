"""The scope matrix: admin implies all, write implies read, score stands alone."""

from __future__ import annotations

import pytest

from leadscore.core.security import require_scope
from leadscore.core.security.scopes import effective, parse_scopes
from tests.core.security.conftest import bearer

PROBES = [("get", "/v1/probe/read"), ("post", "/v1/probe/write"), ("post", "/v1/probe/score"),
          ("get", "/v1/probe/admin"), ("get", "/v1/probe/any"), ("get", "/v1/keys"), ("get", "/v1/keys/me")]
ALLOWED = {
    "read": {"/v1/probe/read", "/v1/probe/any", "/v1/keys/me"},
    "write": {"/v1/probe/read", "/v1/probe/write", "/v1/probe/any", "/v1/keys/me"},
    "score": {"/v1/probe/score", "/v1/probe/any", "/v1/keys/me"},
    "admin": {path for _, path in PROBES},
}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("scope", sorted(ALLOWED))
def test_each_scope_is_allowed_and_refused_as_documented(client, issue_key, scope):
    key = issue_key(scope)
    for method, path in PROBES:
        response = client.request(method, path, headers=bearer(key))
        expected = 200 if path in ALLOWED[scope] else 403
        assert response.status_code == expected, (scope, path, response.text)
        if expected == 403:
            assert "needs the '" in response.json()["detail"] and scope in response.json()["detail"]
            assert response.headers["ratelimit-limit"]  # refused calls still count


def test_expansion_and_parsing():
    assert effective(["admin"]) == {"read", "write", "score", "admin"}
    assert effective(["write"]) == {"read", "write"}
    assert effective(["score"]) == {"score"}
    assert effective(["unknown"]) == frozenset()
    assert parse_scopes(["Read", "read", "write"]) == ["read", "write"]
    with pytest.raises(ValueError, match="unknown scope 'reed'"):
        parse_scopes(["reed"])
    with pytest.raises(ValueError):
        parse_scopes([])


def test_require_scope_is_one_dependency_per_scope_and_checks_names():
    assert require_scope("read") is require_scope("read")
    assert require_scope("read") is not require_scope("write")
    with pytest.raises(ValueError):
        require_scope("superuser")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_dependency_overrides_replace_authentication(settings):
    from fastapi.testclient import TestClient

    from leadscore.core.security import Principal
    from tests.core.security.conftest import build_app

    app = build_app(settings)
    fake = Principal(key_id=1, name="fake", prefix="0" * 12, scopes=("read",), rate_limit="1/second")
    app.dependency_overrides[require_scope("read")] = lambda: fake
    with TestClient(app) as client:
        assert client.get("/v1/probe/read").json() == {"key_id": 1}
        assert client.get("/v1/probe/admin").status_code == 401
