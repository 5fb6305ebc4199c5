"""The delivery state machine: claim an attempt, send it, record the outcome.

The worker (``tasks.deliver``) runs three steps so no database transaction is
held open during the HTTP call: ``claim`` (its own transaction), ``send`` (no
transaction), ``record`` (its own transaction). These functions only flush;
``tasks.py`` commits.

Ordering: automatic deliveries to one subscription go out in event order.
A delivery waits while an earlier event for the same subscription is still
pending or being sent (including its scheduled retries); when that one
finishes, ``kick_next`` queues the next. So a failing receiver sees only the
head event retried, and the backlog drains in order once it answers.
Manual redeliveries and test pings skip the queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from leadscore.core import outbox
from leadscore.core.config import Settings
from leadscore.webhooks import targets
from leadscore.webhooks.models import UNFINISHED, WebhookDelivery, WebhookSubscription
from leadscore.webhooks.signing import build_body, retry_delay, signed_headers

log = logging.getLogger(__name__)

DELIVER_TOPIC = "webhook.deliver"
# A queued deliver message not handled within this time is queued again.
REQUEUE_AFTER = timedelta(minutes=10)
RESPONSE_LIMIT = 2048
ERROR_LIMIT = 2000


def stale_after(settings: Settings) -> timedelta:
    """A row still ``sending`` after this was abandoned by a dead worker."""
    return timedelta(seconds=settings.webhook_timeout_seconds + 60)


@dataclass(frozen=True)
class Attempt:
    """Everything the HTTP call needs, read inside the claim transaction."""

    delivery_id: int
    attempted_at: datetime
    url: str
    message_id: str
    body: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int


def queue_delivery(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """Ask a worker (after commit) to attempt this row."""
    session.flush()
    outbox.enqueue(
        session,
        DELIVER_TOPIC,
        {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "subscription_id": delivery.subscription_id,
            "attempt": delivery.attempt,
        },
    )
    delivery.queued_at = now


def _lock_subscription(session: Session, subscription_id: int) -> WebhookSubscription | None:
    # Serialises claim and record per subscription on PostgreSQL (no-op on SQLite,
    # where writers are serialised anyway), so the ordering guard cannot race.
    return session.scalar(
        select(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        # FOR NO KEY UPDATE: it still serialises claim and record, but does not wait on (or
        # deadlock with) transactions inserting deliveries, whose foreign-key checks take
        # KEY SHARE locks on this row; the counters updated here are never keys.
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def _earlier_unfinished(outer: object) -> object:
    """EXISTS an unfinished automatic delivery of an earlier event to the same subscription.

    ``outer`` is the WebhookDelivery class (correlated, in the sweep) or a row.
    """
    earlier = aliased(WebhookDelivery)
    return exists().where(
        earlier.subscription_id == outer.subscription_id,  # type: ignore[attr-defined]
        earlier.status.in_(UNFINISHED),
        earlier.manual.is_(False),
        earlier.event_id < outer.event_id,  # type: ignore[attr-defined]
    )


def _secrets(subscription: WebhookSubscription, now: datetime) -> tuple[str, ...]:
    keys = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        keys.append(subscription.previous_secret)
    return tuple(keys)


def claim(session: Session, delivery_id: int, *, settings: Settings, now: datetime) -> Attempt | None:
    """Mark the row ``sending`` if it should be attempted now; None means skip.

    Skips rows already finished or in flight (a duplicate message), automatic
    rows of a disabled subscription (kept for when it is re-enabled) and rows
    waiting behind an earlier event; those are picked up again later.
    """
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None or delivery.status not in UNFINISHED:
        return None
    subscription = _lock_subscription(session, delivery.subscription_id)
    if subscription is None:
        return None
    session.refresh(delivery)
    stale = now - stale_after(settings)
    if delivery.status == "sending" and delivery.attempted_at is not None and delivery.attempted_at > stale:
        return None
    if delivery.status not in UNFINISHED:
        return None
    if not delivery.manual:
        blocked = session.scalar(select(_earlier_unfinished(delivery)))
        if not subscription.active or blocked:
            delivery.queued_at = None  # this message is spent; kick_next or the sweep re-queue it
            return None
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            or_(
                WebhookDelivery.status == "pending",
                and_(WebhookDelivery.status == "sending", WebhookDelivery.attempted_at < stale),
            ),
        )
        .values(status="sending", attempted_at=now, queued_at=None)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    event = delivery.event
    return Attempt(
        delivery_id=delivery.id,
        attempted_at=now,
        url=subscription.url,
        message_id=event.message_id,
        body=build_body(event.type, event.created_at, event.data),
        secrets=_secrets(subscription, now),
    )


def send(client: httpx.Client, attempt: Attempt, *, timeout: float, now: datetime,
         allowed: Sequence[targets.Network]) -> Outcome:
    """POST the signed body; never raises for network or HTTP errors.

    Only to an allowed address (``targets``): checked before connecting, and the peer
    reached is checked before anything of the response is read.
    """
    headers = signed_headers(attempt.message_id, attempt.body, attempt.secrets, now=now)
    started = time.perf_counter()
    status_code: int | None = None
    text: str | None = None
    host = httpx.URL(attempt.url).host
    try:
        targets.check_url(attempt.url, allowed)
        with client.stream(
            "POST", attempt.url, content=attempt.body.encode(), headers=headers, timeout=timeout
        ) as response:
            stream = response.extensions.get("network_stream")
            targets.check_peer(host, stream.get_extra_info("server_addr") if stream is not None else None, allowed)
            status_code = response.status_code
            chunks, size = [], 0
            for chunk in response.iter_bytes():  # read only what the log keeps
                chunks.append(chunk)
                size += len(chunk)
                if size >= RESPONSE_LIMIT * 4:
                    break
            raw = b"".join(chunks)
            text = raw.decode(response.encoding or "utf-8", errors="replace")
            text = text.replace("\x00", "")[:RESPONSE_LIMIT] or None
    except targets.TargetRefused as exc:
        return Outcome(False, None, None, f"refused: {exc}"[:ERROR_LIMIT], _ms(started))
    except (httpx.HTTPError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
        return Outcome(False, status_code, text, error, _ms(started))
    ok = 200 <= status_code < 300
    return Outcome(ok, status_code, text, None if ok else f"HTTP {status_code}", _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def record(session: Session, attempt: Attempt, outcome: Outcome, *, settings: Settings, now: datetime) -> int | None:
    """Store the outcome; schedule a retry, disable the subscription or start the next event.

    Returns the id of the subscription's next delivery when this one succeeded and the
    next is due (it is queued as well; the caller may send it at once).
    """
    delivery = session.get(WebhookDelivery, attempt.delivery_id, populate_existing=True)
    if delivery is None:
        return None  # the subscription was deleted meanwhile
    subscription = _lock_subscription(session, delivery.subscription_id)
    session.refresh(delivery)
    if subscription is None or delivery.status != "sending" or delivery.attempted_at != attempt.attempted_at:
        log.warning("webhook delivery %s was reclaimed; dropping a late result", attempt.delivery_id)
        return None
    delivery.response_status = outcome.status_code
    delivery.response_body = outcome.body
    delivery.error = outcome.error
    delivery.duration_ms = outcome.duration_ms
    if outcome.ok:
        delivery.status = "succeeded"
        subscription.consecutive_failures = 0
        head = kick_next(session, subscription, now)
        return None if head is None else head.id
    delivery.status = "failed"
    if delivery.manual:
        return None  # a person asked for this one attempt; it neither retries nor counts
    subscription.consecutive_failures += 1
    if delivery.attempt < settings.webhook_max_attempts:
        retry = WebhookDelivery(
            event_id=delivery.event_id,
            subscription_id=delivery.subscription_id,
            attempt=delivery.attempt + 1,
            status="pending",
            next_attempt_at=now + timedelta(seconds=retry_delay(delivery.attempt, settings)),
        )
        session.add(retry)
    else:
        delivery.error = f"{outcome.error}; gave up after {delivery.attempt} attempts"[:ERROR_LIMIT]
    if subscription.active and subscription.consecutive_failures >= settings.webhook_disable_after:
        subscription.active = False
        subscription.disabled_at = now
        subscription.disabled_reason = (
            f"disabled after {subscription.consecutive_failures} consecutive failed deliveries; "
            f"last: {outcome.error}"
        )[:ERROR_LIMIT]
        log.warning("webhook subscription %s disabled: %s", subscription.id, subscription.disabled_reason)
    session.flush()
    if delivery.attempt >= settings.webhook_max_attempts:
        kick_next(session, subscription, now)
    return None


def kick_next(session: Session, subscription: WebhookSubscription, now: datetime) -> WebhookDelivery | None:
    """Queue the subscription's next event if it is due and not queued already.

    Returns that next delivery whenever it is due, queued now or earlier (a handler
    may then send it at once; ``claim`` lets only one sender have it).
    """
    if not subscription.active:
        return None
    session.flush()
    head = session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status.in_(UNFINISHED),
            WebhookDelivery.manual.is_(False),
        )
        .order_by(WebhookDelivery.event_id, WebhookDelivery.id)
        .limit(1)
    )
    if head is None or head.status != "pending" or head.next_attempt_at > now:
        return None
    if head.queued_at is None or head.queued_at <= now - REQUEUE_AFTER:
        queue_delivery(session, head, now)
    return head


def requeue_due(session: Session, *, settings: Settings, now: datetime, limit: int = 200) -> int:
    """The sweep: queue due retries and rows abandoned by dead workers or lost messages."""
    row = WebhookDelivery
    not_queued = or_(row.queued_at.is_(None), row.queued_at < now - REQUEUE_AFTER)
    query = (
        select(row)
        .join(WebhookSubscription, WebhookSubscription.id == row.subscription_id)
        .where(
            or_(
                and_(row.status == "pending", row.next_attempt_at <= now),
                and_(row.status == "sending", row.attempted_at < now - stale_after(settings)),
            ),
            not_queued,
            or_(row.manual, and_(WebhookSubscription.active, ~_earlier_unfinished(row))),
        )
        .order_by(row.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=row, skip_locked=True)
    count = 0
    for delivery in session.scalars(query).all():
        queue_delivery(session, delivery, now)
        count += 1
    return count
