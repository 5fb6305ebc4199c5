"""End to end: committed events reach a real local receiver, signed, retried, logged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from standardwebhooks import WebhookVerificationError

from leadscore.core import outbox
from leadscore.core.database import session_scope, utcnow
from leadscore.core.outbox import OutboxMessage
from leadscore.webhooks import service
from leadscore.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from leadscore.webhooks.tasks import deliver, deliver_due
from tests.webhooks.conftest import pump, subscribe


def _rows(services, subscription_id=None):
    with session_scope(services.runtime.sessions) as session:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if subscription_id is not None:
            query = query.where(WebhookDelivery.subscription_id == subscription_id)
        return list(session.scalars(query))


def _subscription(services, subscription_id):
    with session_scope(services.runtime.sessions) as session:
        return session.get(WebhookSubscription, subscription_id)


def _emit(services, event_type="score.changed", data=None):
    with session_scope(services.runtime.sessions) as session:
        event = service.emit(session, event_type, data or {"lead_id": 1, "score": 0.8})
        return event.message_id


def test_delivery_is_signed_per_standard_webhooks_and_only_after_commit(open_services, receiver):
    services = open_services()
    with session_scope(services.runtime.sessions) as session:
        sub = subscribe(session, receiver.url, ["score.changed"])
    with session_scope(services.runtime.sessions) as session:
        event = service.emit(session, "score.changed", {"lead_id": 42, "score": 0.91, "previous": 0.55})
        # The transaction is still open: the dispatcher must not see the work yet.
        assert services.dispatcher.drain() == 0
        assert receiver.requests == []
    pump(services)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.verify(sub.secret) == {
        "type": "score.changed",
        "timestamp": event.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": {"lead_id": 42, "score": 0.91, "previous": 0.55},
    }
    assert request.headers["webhook-id"] == event.message_id
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - utcnow().timestamp()) < 30
    with pytest.raises(WebhookVerificationError):
        request.verify(service.generate_secret())  # another secret does not verify
    [row] = _rows(services)
    assert (row.status, row.attempt, row.response_status, row.manual) == ("succeeded", 1, 200, False)
    assert '"received": true' in row.response_body
    assert row.duration_ms is not None and row.error is None


def test_failed_attempts_are_retried_with_backoff_until_success(open_services, receiver):
    services = open_services(webhook_backoff_base_seconds=0.05)
    receiver.script = [500, 503]
    with session_scope(services.runtime.sessions) as session:
        sub = subscribe(session, receiver.url)
    message_id = _emit(services)
    pump(services, until=lambda: len(receiver.requests) == 3)

    assert [r.status for r in receiver.requests] == [500, 503, 200]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {message_id}
    for request in receiver.requests:
        request.verify(sub.secret)
    rows = _rows(services)
    assert [(r.attempt, r.status, r.response_status) for r in rows] == [
        (1, "failed", 500), (2, "failed", 503), (3, "succeeded", 200)
    ]
    assert rows[0].error == "HTTP 500"
    # Full jitter: retry n waits at most base * 2**(n-1) after the failed attempt's answer
    # (attempted_at is when it started; the send itself can take a while on a busy machine).
    for failed, retry in zip(rows, rows[1:], strict=False):
        answered = failed.attempted_at + timedelta(milliseconds=failed.duration_ms)
        delay = (retry.next_attempt_at - answered).total_seconds()
        # (+1.5 s: the retry is scheduled when the failure is recorded, later than the answer under
        # the parallel test run's load; the lower bound is the backoff's point)
        assert -0.01 <= delay <= 0.05 * 2 ** (failed.attempt - 1) + 1.5
        assert retry.attempted_at >= retry.next_attempt_at
    assert _subscription(services, sub.id).consecutive_failures == 0


def test_a_retry_waits_for_its_time_and_survives_a_restart(open_services, receiver):
    services = open_services(webhook_backoff_base_seconds=600, webhook_backoff_max_seconds=600)
    receiver.script = [500]
    with session_scope(services.runtime.sessions) as session:
        subscribe(session, receiver.url)
    _emit(services)
    pump(services)
    retry = _rows(services)[-1]
    assert (retry.attempt, retry.status) == (2, "pending")
    assert deliver_due(services) == 0  # not due yet
    assert len(receiver.requests) == 1
    services.close()

    # Later, in a new process: the scheduled retry is still there and goes out.
    restarted = open_services()
    with session_scope(restarted.runtime.sessions) as session:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == retry.id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    pump(restarted)
    assert [r.status for r in receiver.requests] == [500, 200]
    assert _rows(restarted)[-1].status == "succeeded"


def test_an_attempt_abandoned_by_a_dead_worker_is_sent_again(open_services, receiver):
    services = open_services()
    with session_scope(services.runtime.sessions) as session:
        subscribe(session, receiver.url)
    _emit(services)
    # The worker claimed the row, then died before recording anything; its message is gone.
    with session_scope(services.runtime.sessions) as session:
        session.execute(update(OutboxMessage).values(dispatched_at=utcnow()))
        session.execute(
            update(WebhookDelivery).values(status="sending", attempted_at=utcnow() - timedelta(seconds=10), queued_at=None)
        )
    assert deliver_due(services) == 0  # still within the attempt's lease
    with session_scope(services.runtime.sessions) as session:
        session.execute(update(WebhookDelivery).values(attempted_at=utcnow() - timedelta(hours=1)))
    pump(services)
    assert len(receiver.requests) == 1
    assert _rows(services)[0].status == "succeeded"


def test_duplicate_messages_do_not_send_twice(open_services, receiver):
    services = open_services()
    with session_scope(services.runtime.sessions) as session:
        subscribe(session, receiver.url)
    _emit(services)
    pump(services)
    [row] = _rows(services)
    deliver(services, {"delivery_id": row.id})  # at-least-once: the same message again
    deliver(services, {"delivery_id": 999_999})  # a row deleted meanwhile
    assert len(receiver.requests) == 1


def test_subscription_is_disabled_after_consecutive_failures_and_resumes_when_enabled(open_services, receiver):
    services = open_services(webhook_max_attempts=2, webhook_disable_after=3, webhook_backoff_base_seconds=0)
    receiver.default_status = 500
    with session_scope(services.runtime.sessions) as session:
        sub = subscribe(session, receiver.url)
    first, second = _emit(services), _emit(services)
    pump(services)

    # First event: 2 attempts, given up; second event: 1 attempt -> 3 in a row -> disabled.
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first, first, second]
    disabled = _subscription(services, sub.id)
    assert not disabled.active and disabled.consecutive_failures == 3
    assert "3 consecutive failed deliveries" in disabled.disabled_reason and "HTTP 500" in disabled.disabled_reason
    rows = sorted(_rows(services), key=lambda r: (r.event_id, r.attempt))
    assert [(r.attempt, r.status) for r in rows] == [(1, "failed"), (2, "failed"), (1, "failed"), (2, "pending")]
    assert "gave up after 2 attempts" in rows[1].error
    with session_scope(services.runtime.sessions) as session:
        assert service.emit(session, "score.changed", {"lead_id": 3}) is None  # nothing more to it
    pump(services)
    assert len(receiver.requests) == 3

    receiver.default_status = 200
    with session_scope(services.runtime.sessions) as session:
        service.update_subscription(session, sub.id, {"active": True}, actor="test", allowed=())
    pump(services)
    enabled = _subscription(services, sub.id)
    assert enabled.active and enabled.consecutive_failures == 0 and enabled.disabled_reason is None
    assert [r.headers["webhook-id"] for r in receiver.requests][-1] == second
    assert _rows(services)[-1].status == "succeeded"


def test_events_reach_a_subscription_in_order_even_when_one_is_retried(open_services, receiver):
    services = open_services(webhook_backoff_base_seconds=0.02)
    receiver.script = [500]
    with session_scope(services.runtime.sessions) as session:
        subscribe(session, receiver.url)
    ids = [_emit(services, data={"lead_id": n}) for n in range(4)]
    pump(services, until=lambda: len(receiver.requests) == 5)
    pump(services)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [ids[0], *ids]
    assert [r.json["data"]["lead_id"] for r in receiver.requests] == [0, 0, 1, 2, 3]


def test_manual_redelivery_sends_the_same_event_again(open_services, receiver):
    services = open_services()
    with session_scope(services.runtime.sessions) as session:
        sub = subscribe(session, receiver.url)
    message_id = _emit(services)
    pump(services)
    [first] = _rows(services)
    with session_scope(services.runtime.sessions) as session:
        again = service.redeliver(session, first.id, actor="test")
    pump(services)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [message_id, message_id]
    receiver.requests[1].verify(sub.secret)
    rows = _rows(services)
    assert [(r.id, r.attempt, r.manual, r.status) for r in rows] == [
        (first.id, 1, False, "succeeded"), (again.id, 2, True, "succeeded")
    ]


def test_a_model_promoted_outbox_message_becomes_a_signed_webhook(open_services, receiver):
    from leadscore.registry import service as registry
    from leadscore.registry.models import ModelVersion

    services = open_services()
    with session_scope(services.runtime.sessions) as session:
        sub = subscribe(session, receiver.url, ["model.promoted"])
        version = ModelVersion(kind="conversion", dataset="default", version=1, algorithm="gam")
        session.add(version)
        session.flush()
        # The registry's own promote writes outbox topic "model.promoted", unchanged.
        registry.promote(session, version.id, actor="test", reason="better AUC")
    pump(services)
    [request] = receiver.requests
    body = request.verify(sub.secret)
    assert body["type"] == "model.promoted"
    assert body["data"]["model_version_id"] == version.id
    assert body["data"]["reason"] == "better AUC"

    # The same outbox message handled twice (a worker died before acking) is one event.
    with session_scope(services.runtime.sessions) as session:
        payload = session.scalar(select(OutboxMessage.payload).where(OutboxMessage.topic == "model.promoted"))
        outbox.enqueue(session, "model.promoted", payload)
    pump(services)
    assert len(receiver.requests) == 1
    with session_scope(services.runtime.sessions) as session:
        assert len(session.scalars(select(WebhookEvent)).all()) == 1


def test_one_handler_sends_a_subscriptions_waiting_events_in_order(open_services, receiver):
    # Nothing dispatched: the first event's message alone sends the three, one after another,
    # without a round trip through the outbox per event; the queued messages then find them done.
    services = open_services()
    with session_scope(services.runtime.sessions) as session:
        sub = subscribe(session, receiver.url)
    ids = [_emit(services, data={"lead_id": n}) for n in range(3)]
    first = _rows(services, sub.id)[0]
    deliver(services, {"delivery_id": first.id})
    assert [r.headers["webhook-id"] for r in receiver.requests] == ids
    assert [r.status for r in _rows(services, sub.id)] == ["succeeded"] * 3
    pump(services)
    assert len(receiver.requests) == 3
