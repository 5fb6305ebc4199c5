"""API keys: shown once, stored hashed, refused when missing, wrong, revoked or expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from leadscore.core.audit import AuditEntry
from leadscore.core.config import load_settings
from leadscore.core.database import session_scope, utcnow
from leadscore.core.problems import PROBLEM_JSON
from leadscore.core.security import keys
from leadscore.core.security.models import ApiKey
from tests.core.security.conftest import bearer, serve


def test_key_format_and_hash(settings):
    prefix, key = keys.new_key()
    assert key.startswith(f"ls_{prefix}_") and len(key) == keys.MAX_KEY_LENGTH
    assert keys.split_key(key) == prefix
    pepper = keys.resolve_pepper(settings)
    assert keys.hash_key(pepper, key) != keys.hash_key(pepper + b"x", key)
    for garbage in ("", "ls_", key[:-1], key + "a", key.replace("ls_", "xx_"), "ls_ZZZZZZZZZZZZ_" + "a" * 40):
        assert keys.split_key(garbage) is None


def test_pepper_is_generated_once_per_home_or_taken_from_settings(tmp_path):
    home = load_settings(home=tmp_path / "h1")
    first = keys.resolve_pepper(home)
    assert (tmp_path / "h1" / "key_pepper").stat().st_mode & 0o777 == 0o600
    keys._peppers.clear()
    assert keys.resolve_pepper(home) == first  # read back from the file, not regenerated
    assert keys.resolve_pepper(load_settings(home=tmp_path / "h2", key_pepper="p" * 32)) == b"p" * 32
    assert "p" * 32 not in str(load_settings(key_pepper="p" * 32).describe())


def test_secret_is_shown_once_and_never_stored(client, issue_key, runtime):
    admin = issue_key("admin")
    response = client.post("/v1/keys", headers=bearer(admin), json={"name": "crm", "scopes": ["read"]})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    secret = created["key"]
    assert secret.startswith(f"ls_{created['prefix']}_")
    secret_part = secret.rsplit("_", 1)[1]
    # Listing and reading never return it (nor the hash) again.
    listed = client.get("/v1/keys", headers=bearer(admin)).json()
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    assert secret_part not in str(listed)
    # Nothing in the database holds the secret: every text column of both tables, the audit log too.
    with session_scope(runtime.sessions) as session:
        dump = str(session.execute(text("SELECT * FROM api_keys")).all())
        dump += str(session.scalars(select(AuditEntry.details)).all())
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == created["prefix"]))
        assert row.secret_hash == keys.hash_key(keys.resolve_pepper(runtime.settings), secret)
    assert secret_part not in dump
    # And the new key works.
    assert client.get("/v1/probe/read", headers=bearer(secret)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "an API key is required"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "must be 'Bearer <API key>'"),
        ({"Authorization": "Bearer"}, "must be 'Bearer <API key>'"),
        ({"X-API-Key": "not-a-key"}, "malformed"),
        ({"Authorization": "Bearer ls_0123456789ab_" + "A" * 40}, "not valid"),
    ],
)
def test_missing_or_wrong_keys_get_401_problems(client, headers, detail):
    response = client.get("/v1/probe/any", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and detail in body["detail"]
    assert "ratelimit-limit" not in response.headers


def test_right_prefix_wrong_secret_is_refused(client, issue_key):
    good = issue_key("read")
    forged = good.key[:-5] + ("AAAAA" if not good.key.endswith("AAAAA") else "BBBBB")
    assert client.get("/v1/probe/read", headers=bearer(forged)).status_code == 401
    assert client.get("/v1/probe/read", headers=bearer(good)).status_code == 200


def test_both_headers_are_accepted(client, issue_key):
    key = issue_key("read")
    assert client.get("/v1/probe/read", headers={"X-API-Key": key.key}).status_code == 200
    assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 200


def test_revoked_through_the_api_stops_at_once(client, issue_key):
    admin, victim = issue_key("admin"), issue_key("read", name="victim")
    assert client.get("/v1/probe/read", headers=bearer(victim)).status_code == 200  # now cached
    response = client.delete(f"/v1/keys/{victim.row.id}", headers=bearer(admin))
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    refused = client.get("/v1/probe/read", headers=bearer(victim))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    # Idempotent, and an unknown id is a 404 problem.
    assert client.delete(f"/v1/keys/{victim.row.id}", headers=bearer(admin)).status_code == 200
    missing = client.delete("/v1/keys/999999", headers=bearer(admin))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_JSON


def test_revoked_elsewhere_stops_within_the_cache_ttl(settings, issue_key, runtime):
    key = issue_key("read")
    with serve(settings.model_copy(update={"key_cache_seconds": 0.0})) as client:
        assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 200
        with session_scope(runtime.sessions) as session:  # e.g. `leadscore apikey revoke` in another process
            keys.revoke_key(session, key.row.id, actor="cli")
        assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 401


def test_expired_keys_are_refused_even_when_cached(client, issue_key, runtime):
    key = issue_key("read", expires_in_days=1)
    assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 200
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == key.row.id).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    client.app.state.security.cache.clear()
    response = client.get("/v1/probe/read", headers=bearer(key))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_key_lookup_is_cached(client, issue_key, runtime):
    key = issue_key("read")
    client.get("/v1/probe/read", headers=bearer(key))
    # Break the stored hash: a cached key keeps working without touching the database.
    with session_scope(runtime.sessions) as session:
        session.execute(update(ApiKey).where(ApiKey.id == key.row.id).values(secret_hash="0" * 64))
    assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 200
    client.app.state.security.cache.clear()
    assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 401


def test_me_returns_the_calling_key(client, issue_key):
    key = issue_key("score", name="web-form")
    body = client.get("/v1/keys/me", headers=bearer(key)).json()
    assert (body["name"], body["scopes"], body["status"]) == ("web-form", ["score"], "active")
    assert body["prefix"] == key.row.prefix
