"""Background work of the webhooks domain: deliver, sweep, and outbox bridges.

Each handler owns its transactions (``session_scope``): the attempt is
claimed and committed, the HTTP call runs outside any transaction, then the
outcome (and any retry) is committed even when the POST failed, so the
delivery log survives. Handlers are idempotent: a duplicate message for a
row already succeeded, failed or in flight does nothing.

Retries are rows in ``webhook_deliveries`` with ``next_attempt_at``;
``deliver_due`` (run every few seconds by the scheduler, see
``periodic_job``) queues those that are due, so they survive restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from leadscore.core import metrics
from leadscore.core.database import session_scope, utcnow
from leadscore.core.scheduler import PeriodicJob
from leadscore.webhooks import delivery, service
from leadscore.webhooks.models import UNFINISHED, WebhookDelivery
from leadscore.webhooks.signing import USER_AGENT

if TYPE_CHECKING:
    from leadscore.core.services import Services

log = logging.getLogger(__name__)

# Outbox topics other domains already write that become webhook events as is.
BRIDGED_TOPICS = ("model.promoted", "drift.detected", "lead.created", "score.changed")
HTTP_CLIENT = "webhooks.http"
SWEEP_INTERVAL = timedelta(seconds=5)


def http_client(services: Services) -> httpx.Client:
    """One client per process; redirects are not followed (a 3xx is a failure)."""
    client = services.extras.get(HTTP_CLIENT)
    if client is None:
        client = httpx.Client(follow_redirects=False, headers={"user-agent": USER_AGENT})
        services.extras[HTTP_CLIENT] = client
        weakref.finalize(services, client.close)
    return client  # type: ignore[return-value]


T = TypeVar("T")


def _transaction(services: Services, work: Callable[[Session], T], *, tries: int = 5) -> T:
    """Run ``work`` in its own committed transaction.

    On SQLite a transaction that read before another connection committed
    cannot write ("database is locked", SQLITE_BUSY_SNAPSHOT; the busy timeout
    does not help); it was rolled back whole, so it is simply run again.
    """
    for attempt in range(1, tries + 1):
        try:
            with session_scope(services.runtime.sessions) as session:
                return work(session)
        except OperationalError as exc:
            if not services.settings.is_sqlite or "locked" not in str(exc.orig) or attempt == tries:
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


# Deliveries to one subscription go out in event order, one at a time; after a success
# the handler sends the next due one itself, up to this many, instead of waiting for its
# queued message to travel outbox -> broker -> worker (that message then finds it done).
CHAIN_LIMIT = 50


def deliver(services: Services, payload: dict[str, Any]) -> None:
    """Handler of ``webhook.deliver``: one attempt of one delivery row, then the subscription's next.

    Recording an outcome and claiming the next delivery share one transaction: each
    write transaction queues for SQLite's single write lock behind the API's write
    requests, and two per delivery let the deliveries fall behind the events under load.
    """
    settings = services.settings
    delivery_id = int(payload["delivery_id"])
    # Most duplicate messages (the chain below sent their row already) end here, on a plain
    # read, instead of queueing for a write transaction (SQLite's single write lock).
    with session_scope(services.runtime.sessions, write=False) as session:
        status = session.scalar(select(WebhookDelivery.status).where(WebhookDelivery.id == delivery_id))
    if status in UNFINISHED:
        attempt = _transaction(services, lambda s: delivery.claim(s, delivery_id, settings=settings, now=utcnow()))
        for _ in range(CHAIN_LIMIT):
            if attempt is None:
                break
            attempt = _send_and_record(services, attempt)
    services.dispatcher.notify()


def _send_and_record(services: Services, attempt: delivery.Attempt) -> delivery.Attempt | None:
    """Send ``attempt``, record its outcome and claim the subscription's next delivery if one is due."""
    settings = services.settings
    outcome = delivery.send(http_client(services), attempt, timeout=settings.webhook_timeout_seconds, now=utcnow(),
                            allowed=settings.webhook_networks)

    def record(session: Session) -> delivery.Attempt | None:
        now = utcnow()
        next_id = delivery.record(session, attempt, outcome, settings=settings, now=now)
        if next_id is None:
            return None
        return delivery.claim(session, next_id, settings=settings, now=now)

    following = _transaction(services, record)
    metrics.webhook_delivery("delivered" if outcome.ok else "failed")
    return following


def deliver_due(services: Services, *, limit: int = 200) -> int:
    """Queue due retries and abandoned attempts; returns how many were queued."""
    queued = _transaction(
        services, lambda s: delivery.requeue_due(s, settings=services.settings, now=utcnow(), limit=limit)
    )
    if queued:
        services.dispatcher.notify()
    return queued


def periodic_job(services: Services) -> PeriodicJob:
    """The sweep as a scheduler job (needs a scheduler ``poll_seconds`` of about 5)."""

    def run() -> str:
        return f"queued {deliver_due(services)} webhook deliveries"

    return PeriodicJob("webhooks.deliver_due", SWEEP_INTERVAL, run, lease=timedelta(minutes=5))


def dedup_key(topic: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{topic}:{hashlib.sha256(canonical.encode()).hexdigest()[:40]}"


def _bridge(services: Services, topic: str):  # noqa: ANN202
    def handle(payload: dict[str, Any]) -> None:
        # A redelivered outbox message must not become a second event.
        key = dedup_key(topic, payload)
        _transaction(services, lambda s: service.emit(s, topic, payload, dedup_key=key))
        services.dispatcher.notify()

    return handle


def seal_clear_secrets(services: Services) -> int:
    """Seal secrets stored before sealing existed (at start: a read, and a write only if needed)."""
    with session_scope(services.runtime.sessions, write=False) as session:
        ids = service.clear_secret_ids(session)
    if not ids:
        return 0
    with session_scope(services.runtime.sessions) as session:
        return service.seal_clear_secrets(session, ids)


def register(services: Services) -> None:
    seal_clear_secrets(services)
    services.tasks.register(delivery.DELIVER_TOPIC, lambda payload: deliver(services, payload))
    for topic in BRIDGED_TOPICS:
        services.tasks.register(topic, _bridge(services, topic))
