"""Service functions inside one rolled-back transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from leadscore.core.config import load_settings
from leadscore.core.outbox import OutboxMessage
from leadscore.core.problems import Conflict, NotFound, Problem
from leadscore.webhooks import service
from leadscore.webhooks.delivery import DELIVER_TOPIC
from leadscore.webhooks.models import WebhookDelivery, WebhookEvent
from leadscore.webhooks.signing import build_body, generate_secret, retry_delay, signed_headers
from leadscore.webhooks.tasks import dedup_key
from tests.webhooks.conftest import subscribe

URL = "http://127.0.0.1:9/hooks"


def _outbox(session):
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.topic == DELIVER_TOPIC)))


def test_emit_queues_one_delivery_per_matching_active_subscription(session):
    wants_scores = subscribe(session, URL, ["score.changed"])
    wants_all = subscribe(session, URL, ["*"])
    subscribe(session, URL, ["lead.created"])
    paused = subscribe(session, URL, ["score.changed"])
    service.update_subscription(session, paused.id, {"active": False}, actor="test", allowed=())

    event = service.emit(session, "score.changed", {"lead_id": 7, "at": datetime(2026, 5, 1, tzinfo=UTC)})

    assert event.message_id.startswith("msg_") and event.type == "score.changed"
    assert event.data == {"lead_id": 7, "at": "2026-05-01 00:00:00+00:00"}  # stored as receivers see it
    deliveries = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.subscription_id)).all()
    assert [(d.subscription_id, d.event_id, d.attempt, d.status) for d in deliveries] == [
        (wants_scores.id, event.id, 1, "pending"), (wants_all.id, event.id, 1, "pending")
    ]
    assert [m.payload for m in _outbox(session)] == [
        {"delivery_id": d.id, "event_id": event.id, "subscription_id": d.subscription_id, "attempt": 1}
        for d in deliveries
    ]
    assert all(m.dispatched_at is None for m in _outbox(session))  # sent only after commit


def test_emit_without_a_subscriber_stores_nothing(session):
    subscribe(session, URL, ["lead.created"])
    assert service.emit(session, "drift.detected", {"feature": "price"}) is None
    assert session.scalars(select(WebhookEvent)).all() == [] and _outbox(session) == []


def test_unknown_event_types_are_refused(session):
    with pytest.raises(ValueError, match="unknown webhook event type"):
        service.emit(session, "lead.deleted", {})
    with pytest.raises(Problem) as info:
        subscribe(session, URL, ["lead.deleted"])
    assert info.value.status == 422


def test_a_dedup_key_returns_the_event_already_emitted(session):
    subscribe(session, URL)
    payload = {"model_version_id": 3, "reason": "better"}
    key = dedup_key("model.promoted", payload)
    first = service.emit(session, "model.promoted", payload, dedup_key=key)
    assert service.emit(session, "model.promoted", payload, dedup_key=key).id == first.id
    assert dedup_key("model.promoted", {**payload, "reason": "other"}) != key
    assert len(_outbox(session)) == 1


def test_redelivery_is_refused_while_the_event_is_still_pending(session):
    sub = subscribe(session, URL)
    service.emit(session, "lead.created", {"lead_id": 1})
    [delivery] = session.scalars(select(WebhookDelivery)).all()
    with pytest.raises(Conflict):
        service.redeliver(session, delivery.id, actor="test")
    with pytest.raises(NotFound):
        service.redeliver(session, delivery.id + 1000, actor="test")
    delivery.status = "failed"
    again = service.redeliver(session, delivery.id, actor="test")
    assert (again.attempt, again.manual, again.subscription_id) == (2, True, sub.id)


def test_delivery_log_pages_newest_first_and_filters_by_status(session):
    sub = subscribe(session, URL)
    for n in range(5):
        service.emit(session, "lead.created", {"lead_id": n})
    rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    rows[0].status = rows[3].status = "failed"
    page, cursor = service.list_deliveries(session, sub.id, limit=2)
    assert [r.id for r in page] == [rows[4].id, rows[3].id]
    page, cursor = service.list_deliveries(session, sub.id, before=cursor, limit=2)
    assert [r.id for r in page] == [rows[2].id, rows[1].id]
    page, cursor = service.list_deliveries(session, sub.id, before=cursor, limit=2)
    assert [r.id for r in page] == [rows[0].id] and cursor is None
    failed, _ = service.list_deliveries(session, sub.id, status="failed")
    assert [r.id for r in failed] == [rows[3].id, rows[0].id]


def test_deleting_a_subscription_removes_its_log_and_orphaned_events(session):
    gone, kept = subscribe(session, URL, ["lead.created"]), subscribe(session, URL, ["score.changed"])
    service.emit(session, "lead.created", {"lead_id": 1})
    shared = service.emit(session, "score.changed", {"lead_id": 1})
    service.update_subscription(session, gone.id, {"event_types": ["*"]}, actor="test", allowed=())
    service.emit(session, "score.changed", {"lead_id": 2})
    service.delete(session, gone.id, actor="test")
    assert {d.subscription_id for d in session.scalars(select(WebhookDelivery))} == {kept.id}
    assert shared.id in {e.id for e in session.scalars(select(WebhookEvent))}
    assert len(session.scalars(select(WebhookEvent)).all()) == 2
    with pytest.raises(NotFound):
        service.get(session, gone.id)


def test_retry_delay_is_exponential_with_full_jitter_and_capped():
    settings = load_settings(webhook_backoff_base_seconds=5, webhook_backoff_max_seconds=3600)
    ceilings = [retry_delay(n, settings, uniform=lambda low, high: high) for n in range(1, 12)]
    assert ceilings == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert retry_delay(4, settings, uniform=lambda low, high: low) == 0
    assert all(0 <= retry_delay(3, settings) <= 20 for _ in range(200))
    assert len({round(retry_delay(8, settings), 6) for _ in range(50)}) > 40  # jittered


def test_signatures_verify_with_the_standardwebhooks_library():
    old, new = generate_secret(), generate_secret()
    now = datetime.now(UTC)
    body = build_body("lead.created", now - timedelta(minutes=1), {"lead_id": 5})
    headers = signed_headers("msg_1", body, [new, old], now=now)
    assert Webhook(new).verify(body, headers)["data"] == {"lead_id": 5}
    assert Webhook(old).verify(body, headers)["type"] == "lead.created"
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("5", "6"), headers)
    with pytest.raises(WebhookVerificationError):  # replay protection: a stale timestamp fails
        Webhook(new).verify(body, signed_headers("msg_1", body, [new], now=now - timedelta(minutes=10)))
