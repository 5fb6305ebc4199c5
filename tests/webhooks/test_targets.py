"""Webhooks reach public addresses and the networks an operator allows, nothing else (no SSRF)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from leadscore.app import create_app
from leadscore.core.config import ConfigError, load_settings
from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.security import keys
from leadscore.webhooks import delivery, targets
from leadscore.webhooks.targets import TargetRefused, check_peer, check_url
from tests.webhooks.conftest import LOOPBACK, fast_settings

SETTING = "LEADSCORE_WEBHOOK_ALLOWED_NETWORKS"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://169.254.169.254/latest/meta-data/",
    "https://10.1.2.3/hook", "http://192.168.0.7/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0:5432/",
    "http://[fe80::1]/", "http://224.0.0.1/", "http://localhost:6379/",
])
def test_internal_addresses_are_refused_naming_the_setting(url):
    with pytest.raises(TargetRefused, match=SETTING):
        check_url(url, ())


def test_public_addresses_allowed_networks_and_names_that_do_not_resolve_pass():
    check_url("https://8.8.8.8/hook", ())
    check_url("http://[2001:4860:4860::8888]/hook", ())
    check_url("http://127.0.0.1:9/hook", LOOPBACK)
    check_url("https://10.1.2.3/hook", (ipaddress.ip_network("10.0.0.0/8"),))
    with pytest.raises(TargetRefused):
        check_url("https://10.1.2.3/hook", (ipaddress.ip_network("10.9.0.0/16"),))
    check_url("https://crm.invalid/hook", ())  # checked again at delivery, where it may resolve
    # The peer actually reached is checked too (a name that resolved elsewhere meanwhile).
    with pytest.raises(TargetRefused, match="reached 127.0.0.1"):
        check_peer("crm.example.com", ("127.0.0.1", 443), ())
    check_peer("crm.example.com", ("127.0.0.1", 443), LOOPBACK)
    check_peer("crm.example.com", ("93.184.216.34", 443), ())


def test_the_setting_takes_cidr_lists_and_refuses_anything_else():
    assert load_settings(webhook_allowed_networks=" 10.0.0.0/8, fd00::/8 ").webhook_networks == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert load_settings(webhook_allowed_networks="").webhook_networks == ()
    with pytest.raises(ConfigError, match=f"{SETTING}: '10.0.0.300/8' is not a network"):
        load_settings(webhook_allowed_networks="10.0.0.0/8,10.0.0.300/8")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_api_refuses_an_internal_url_and_stores_nothing(fresh_database, receiver):
    settings = fast_settings(fresh_database).model_copy(update={"webhook_allowed_networks": ""})
    runtime = Runtime.open(settings)
    with session_scope(runtime.sessions) as session:
        admin = {"Authorization": f"Bearer {keys.create_key(session, settings, name='a', scopes=['admin']).key}"}
    runtime.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        refused = client.post("/v1/webhooks", json={"url": "http://169.254.169.254/latest/meta-data/", "events": ["*"]},
                              headers=admin)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["body.url"]
        assert "link-local address" in refused.json()["detail"] and SETTING in refused.json()["detail"]
        assert client.get("/v1/webhooks", headers=admin).json() == []
        public = client.post("/v1/webhooks", json={"url": "https://8.8.8.8/hook", "events": ["*"]}, headers=admin)
        assert public.status_code == 201
        moved = client.patch(f"/v1/webhooks/{public.json()['id']}", json={"url": receiver.url}, headers=admin)
        assert moved.status_code == 422 and "loopback address" in moved.json()["detail"]
        assert client.get(f"/v1/webhooks/{public.json()['id']}", headers=admin).json()["url"] == "https://8.8.8.8/hook"


def _attempt(url: str) -> delivery.Attempt:
    return delivery.Attempt(delivery_id=1, attempted_at=datetime.now(UTC), url=url, message_id="msg_1",
                            body='{"type":"ping"}', secrets=("whsec_" + "A" * 32,))


def test_a_delivery_to_a_refused_address_is_not_sent(receiver):
    with httpx.Client() as client:
        outcome = delivery.send(client, _attempt(receiver.url), timeout=5, now=datetime.now(UTC), allowed=())
        assert not outcome.ok and outcome.error.startswith("refused: webhooks may not be sent to 127.0.0.1")
        assert receiver.requests == []
        allowed = delivery.send(client, _attempt(receiver.url), timeout=5, now=datetime.now(UTC), allowed=LOOPBACK)
    assert allowed.ok and len(receiver.requests) == 1


def test_a_response_from_a_refused_peer_is_dropped_unread(receiver, monkeypatch):
    # The name passed its check, then the connection reached loopback (DNS rebinding): the
    # request went out, but nothing of the answer reaches the delivery log.
    monkeypatch.setattr(targets, "check_url", lambda url, allowed: None)
    with httpx.Client() as client:
        outcome = delivery.send(client, _attempt(receiver.url), timeout=5, now=datetime.now(UTC), allowed=())
    assert not outcome.ok and outcome.body is None and outcome.status_code is None
    assert "the connection reached 127.0.0.1, a loopback address" in outcome.error
