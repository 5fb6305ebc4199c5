"""The /v1/webhooks API through the real app, with real API keys and a local receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from leadscore.app import create_app
from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.security import keys
from tests.webhooks.conftest import fast_settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def api(fresh_database) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    settings = fast_settings(fresh_database)
    runtime = Runtime.open(settings)
    with session_scope(runtime.sessions) as session:
        admin = keys.create_key(session, settings, name="admin", scopes=["admin"]).key
        reader = keys.create_key(session, settings, name="reader", scopes=["read"]).key
    runtime.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {reader}"}


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _create(client, admin, url, events=("*",)):
    response = client.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_show_update_delete(api, receiver):
    client, admin, _ = api
    created = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["lead.created", "score.changed", "lead.created"], "description": "crm"},
        headers=admin,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["lead.created", "score.changed"]
    assert (body["active"], body["consecutive_failures"], body["description"]) == (True, 0, "crm")

    listed = client.get("/v1/webhooks", headers=admin).json()
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in client.get(f"/v1/webhooks/{body['id']}", headers=admin).json()

    paused = client.patch(f"/v1/webhooks/{body['id']}", json={"active": False}, headers=admin).json()
    assert paused["active"] is False and paused["disabled_reason"].startswith("disabled by apikey:")
    resumed = client.patch(
        f"/v1/webhooks/{body['id']}", json={"active": True, "events": ["*"]}, headers=admin
    ).json()
    assert (resumed["active"], resumed["disabled_reason"], resumed["events"]) == (True, None, ["*"])

    assert client.delete(f"/v1/webhooks/{body['id']}", headers=admin).status_code == 204
    missing = client.get(f"/v1/webhooks/{body['id']}", headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "body.url"),
        ({"url": "not a url", "events": ["*"]}, "body.url"),
        ({"url": "http://[::1/hook", "events": ["*"]}, "body.url"),
        ({"url": "http://example.com:99999/hook", "events": ["*"]}, "body.url"),
        ({"url": "https://example.com/x", "events": ["lead.deleted"]}, "body.events.0"),
        ({"url": "https://example.com/x", "events": []}, "body.events"),
        ({"url": "https://example.com/x", "events": ["*"], "secret": "mine"}, "body.secret"),
    ],
)
def test_bad_input_is_a_422_problem_naming_the_field(api, payload, field):
    client, admin, _ = api
    response = client.post("/v1/webhooks", json=payload, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def test_bad_patch_and_query_are_422_too(api, receiver):
    client, admin, _ = api
    hook = _create(client, admin, receiver.url)
    assert client.patch(f"/v1/webhooks/{hook['id']}", json={"events": ["nope"]}, headers=admin).status_code == 422
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=lost", headers=admin).status_code == 422
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries?cursor=0", headers=admin).status_code == 422
    # Ids are integers in the route itself, so a non-numeric id matches no route at all.
    missing = client.get("/v1/webhooks/abc", headers=admin)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


def test_only_admin_keys_may_manage_webhooks(api):
    client, _, reader = api
    assert client.get("/v1/webhooks").status_code == 401
    forbidden = client.get("/v1/webhooks", headers=reader)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]


def test_test_ping_log_redelivery_and_pagination(api, receiver):
    client, admin, _ = api
    hook = _create(client, admin, receiver.url, ["model.promoted"])
    ping = client.post(f"/v1/webhooks/{hook['id']}/test", headers=admin)
    assert ping.status_code == 202 and ping.json()["status"] == "pending"
    _wait_for(lambda: len(receiver.requests) == 1)
    body = receiver.requests[0].verify(hook["secret"])
    assert body["type"] == "webhook.test" and body["data"]["subscription_id"] == hook["id"]

    log_url = f"/v1/webhooks/{hook['id']}/deliveries"
    _wait_for(lambda: client.get(log_url, headers=admin).json()["items"][0]["status"] == "succeeded")
    [first] = client.get(log_url, headers=admin).json()["items"]
    assert (first["response_status"], first["attempt"], first["manual"]) == (200, 1, True)
    assert first["event_id"] == receiver.requests[0].headers["webhook-id"]

    again = client.post(f"/v1/webhooks/deliveries/{first['id']}/redeliver", headers=admin)
    assert again.status_code == 202 and again.json()["attempt"] == 2
    _wait_for(lambda: len(receiver.requests) == 2)
    assert receiver.requests[1].headers["webhook-id"] == first["event_id"]
    assert client.post("/v1/webhooks/deliveries/999999/redeliver", headers=admin).status_code == 404

    _wait_for(lambda: client.get(log_url, params={"status": "pending"}, headers=admin).json()["items"] == [])
    page = client.get(log_url, params={"limit": 1}, headers=admin).json()
    assert [d["attempt"] for d in page["items"]] == [2] and page["next_cursor"] is not None
    rest = client.get(log_url, params={"limit": 1, "cursor": page["next_cursor"]}, headers=admin).json()
    assert [d["attempt"] for d in rest["items"]] == [1] and rest["next_cursor"] is None
    assert client.get(log_url, params={"status": "failed"}, headers=admin).json()["items"] == []


def test_rotated_secret_signs_alongside_the_old_one(api, receiver):
    client, admin, _ = api
    hook = _create(client, admin, receiver.url)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != hook["secret"] and rotated.json()["previous_secret_expires_at"]
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=admin)
    _wait_for(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    request.verify(new_secret)
    request.verify(hook["secret"])  # receivers not yet switched keep working


def test_every_operation_is_documented_with_examples(api):
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    operations = [
        (path, method, op) for path, item in spec["paths"].items() if path.startswith("/v1/webhooks")
        for method, op in item.items()
    ]
    assert len(operations) == 10
    schemas = spec["components"]["schemas"]
    for path, method, op in operations:
        assert op.get("description") and op.get("summary"), (method, path)
        assert op["tags"] == ["webhooks"]
        ok = next(r for code, r in op["responses"].items() if code.startswith("2"))
        if code_schema := ok.get("content", {}).get("application/json", {}).get("schema"):
            ref = code_schema.get("$ref") or code_schema.get("items", {}).get("$ref")
            name = ref.rsplit("/", 1)[-1]
            assert schemas[name].get("examples") or name == "DeliveryPage", name
    assert schemas["WebhookCreate"]["examples"] and schemas["WebhookUpdate"]["examples"]
