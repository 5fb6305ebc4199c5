"""Webhook subscriptions, ``emit`` for other domains, the delivery log, redelivery.

Every function takes the caller's session and at most flushes: the request
or job that owns the transaction commits, and deliveries leave through the
outbox only after that commit.

Other domains call, inside their own transaction::

    from leadscore.webhooks import service as webhooks
    webhooks.emit(session, "score.changed", {"lead_id": 7, "score": 0.82, ...})
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from leadscore.core import audit
from leadscore.core.database import utcnow
from leadscore.core.sealed import PREFIX as SEALED
from leadscore.core.problems import Conflict, NotFound, Problem
from leadscore.webhooks.delivery import kick_next, queue_delivery
from leadscore.webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    UNFINISHED,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from leadscore.webhooks.signing import generate_secret, new_message_id
from leadscore.webhooks.targets import Network, TargetRefused, check_url

# How long the old secret keeps signing after a rotation.
ROTATION_GRACE = timedelta(hours=24)
# An outbox message redelivered within this window does not emit a second event.
DEDUP_WINDOW = timedelta(hours=24)


# --- emitting events --------------------------------------------------------


def _json_ready(data: Mapping[str, Any]) -> dict[str, Any]:
    # Dates, decimals and UUIDs become strings, exactly as receivers will see them.
    return json.loads(json.dumps(dict(data), default=str))


def matching_subscriptions(session: Session, event_type: str) -> list[WebhookSubscription]:
    active = session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True)).order_by(WebhookSubscription.id)
    )
    return [s for s in active if s.wants(event_type)]


def emit(
    session: Session, event_type: str, data: Mapping[str, Any], *, dedup_key: str | None = None
) -> WebhookEvent | None:
    """Store one event and queue its delivery to every active subscription that wants it.

    Nothing is sent before the caller commits. Returns None (and stores
    nothing) when no subscription wants the event; with ``dedup_key``, an
    event already stored under that key in the last 24 hours is returned
    instead of a new one.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
    now = utcnow()
    if dedup_key is not None:
        existing = session.scalar(
            select(WebhookEvent)
            .where(WebhookEvent.dedup_key == dedup_key, WebhookEvent.created_at >= now - DEDUP_WINDOW)
            .limit(1)
        )
        if existing is not None:
            return existing
    subscriptions = matching_subscriptions(session, event_type)
    if not subscriptions:
        return None
    event = WebhookEvent(
        message_id=new_message_id(), type=event_type, data=_json_ready(data), created_at=now, dedup_key=dedup_key
    )
    session.add(event)
    session.flush()
    for subscription in subscriptions:
        delivery = WebhookDelivery(
            event_id=event.id, subscription_id=subscription.id, attempt=1, status="pending", next_attempt_at=now
        )
        session.add(delivery)
        queue_delivery(session, delivery, now)
    return event


# --- subscriptions ----------------------------------------------------------


def get(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"webhook subscription {subscription_id} does not exist")
    return subscription


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def _normalise_events(event_types: list[str]) -> list[str]:
    unknown = [e for e in event_types if e != "*" and e not in EVENT_TYPES]
    if unknown:
        raise Problem(422, f"unknown event types: {', '.join(unknown)}; known: *, {', '.join(EVENT_TYPES)}")
    return ["*"] if "*" in event_types else sorted(set(event_types))


def _check_target(url: str, allowed: Sequence[Network]) -> None:
    try:
        check_url(url, allowed)
    except TargetRefused as exc:
        raise Problem(422, str(exc), errors=[{"field": "body.url", "message": str(exc)}]) from None


def create(
    session: Session, *, url: str, event_types: list[str], description: str | None = None, actor: str,
    allowed: Sequence[Network],
) -> WebhookSubscription:
    """A new subscription; ``allowed``: the networks webhooks may reach beyond public addresses."""
    _check_target(url, allowed)
    subscription = WebhookSubscription(
        url=url,
        description=description,
        event_types=_normalise_events(event_types),
        secret=generate_secret(),
        active=True,
        consecutive_failures=0,
    )
    session.add(subscription)
    session.flush()
    audit.record(session, actor=actor, action="webhook.created", entity_type="webhook_subscription",
                 entity_id=subscription.id, details={"url": url, "event_types": subscription.event_types})
    return subscription


def enable(session: Session, subscription: WebhookSubscription) -> None:
    """Re-enable: reset the failure count and resume the deliveries kept while disabled."""
    now = utcnow()
    subscription.active = True
    subscription.disabled_reason = None
    subscription.disabled_at = None
    subscription.consecutive_failures = 0
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.manual.is_(False),
        )
        .values(next_attempt_at=now, queued_at=None)
        .execution_options(synchronize_session=False)
    )
    kick_next(session, subscription, now)


def disable(session: Session, subscription: WebhookSubscription, *, reason: str) -> None:
    subscription.active = False
    subscription.disabled_at = utcnow()
    subscription.disabled_reason = reason


def update_subscription(
    session: Session, subscription_id: int, changes: Mapping[str, Any], *, actor: str, allowed: Sequence[Network]
) -> WebhookSubscription:
    """Apply the given fields (url, description, event_types, active)."""
    subscription = get(session, subscription_id)
    if "url" in changes:
        _check_target(changes["url"], allowed)
        subscription.url = changes["url"]
    if "description" in changes:
        subscription.description = changes["description"]
    if "event_types" in changes:
        subscription.event_types = _normalise_events(changes["event_types"])
    if "active" in changes and changes["active"] != subscription.active:
        if changes["active"]:
            enable(session, subscription)
        else:
            disable(session, subscription, reason=f"disabled by {actor}")
    subscription.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="webhook.updated", entity_type="webhook_subscription",
                 entity_id=subscription.id, details={k: changes[k] for k in sorted(changes)})
    return subscription


def delete(session: Session, subscription_id: int, *, actor: str) -> None:
    """Delete the subscription with its delivery log; events no one else received go too."""
    subscription = get(session, subscription_id)
    event_ids = select(WebhookDelivery.event_id).where(WebhookDelivery.subscription_id == subscription_id)
    orphans = list(
        session.scalars(
            select(WebhookEvent.id).where(
                WebhookEvent.id.in_(event_ids),
                ~WebhookEvent.id.in_(
                    select(WebhookDelivery.event_id).where(WebhookDelivery.subscription_id != subscription_id)
                ),
            )
        )
    )
    session.execute(
        WebhookDelivery.__table__.delete().where(WebhookDelivery.subscription_id == subscription_id)
    )
    if orphans:
        session.execute(WebhookEvent.__table__.delete().where(WebhookEvent.id.in_(orphans)))
    session.delete(subscription)
    session.flush()
    audit.record(session, actor=actor, action="webhook.deleted", entity_type="webhook_subscription",
                 entity_id=subscription_id, details={"url": subscription.url})


def rotate_secret(session: Session, subscription_id: int, *, actor: str) -> WebhookSubscription:
    """New secret now; the old one also signs for 24 hours."""
    subscription = get(session, subscription_id)
    now = utcnow()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + ROTATION_GRACE
    subscription.secret = generate_secret()
    subscription.updated_at = now
    session.flush()
    audit.record(session, actor=actor, action="webhook.secret_rotated", entity_type="webhook_subscription",
                 entity_id=subscription.id)
    return subscription


# --- delivery log and manual delivery ------------------------------------------


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"webhook delivery {delivery_id} does not exist")
    return delivery


def list_deliveries(
    session: Session,
    subscription_id: int,
    *,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[WebhookDelivery], int | None]:
    """Newest first; returns the page and the cursor of the next page (or None)."""
    get(session, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


def _manual_delivery(session: Session, event: WebhookEvent, subscription_id: int, now: datetime) -> WebhookDelivery:
    unfinished = session.scalar(
        select(func.count()).where(
            WebhookDelivery.event_id == event.id,
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status.in_(UNFINISHED),
        )
    )
    if unfinished:
        raise Conflict(f"event {event.message_id} is already waiting to be delivered to this subscription")
    last = session.scalar(
        select(func.max(WebhookDelivery.attempt)).where(
            WebhookDelivery.event_id == event.id, WebhookDelivery.subscription_id == subscription_id
        )
    )
    delivery = WebhookDelivery(
        event_id=event.id, subscription_id=subscription_id, attempt=(last or 0) + 1,
        manual=True, status="pending", next_attempt_at=now,
    )
    session.add(delivery)
    queue_delivery(session, delivery, now)
    return delivery


def redeliver(session: Session, delivery_id: int, *, actor: str) -> WebhookDelivery:
    """Send that delivery's event to its subscription once more (a new attempt row)."""
    original = get_delivery(session, delivery_id)
    delivery = _manual_delivery(session, original.event, original.subscription_id, utcnow())
    audit.record(session, actor=actor, action="webhook.redelivered", entity_type="webhook_subscription",
                 entity_id=original.subscription_id, details={"event": original.event.message_id})
    return delivery


def send_test(session: Session, subscription_id: int, *, actor: str) -> WebhookDelivery:
    """Queue a ``webhook.test`` ping to one subscription, active or not."""
    subscription = get(session, subscription_id)
    now = utcnow()
    event = WebhookEvent(
        message_id=new_message_id(), type=TEST_EVENT, created_at=now,
        data={"subscription_id": subscription.id, "message": "leadscore webhook test", "requested_by": actor},
    )
    session.add(event)
    session.flush()
    return _manual_delivery(session, event, subscription.id, now)


def clear_secret_ids(session: Session) -> list[int]:
    """Subscriptions whose secrets are still stored in clear (written before sealing existed)."""
    # As stored (plain strings): compared through SealedString, the pattern itself would be sealed.
    secret = type_coerce(WebhookSubscription.secret, String())
    previous = type_coerce(WebhookSubscription.previous_secret, String())
    return list(session.scalars(select(WebhookSubscription.id).where(or_(
        secret.not_like(f"{SEALED}%"), previous.is_not(None) & previous.not_like(f"{SEALED}%")))))


def seal_clear_secrets(session: Session, ids: list[int]) -> int:
    """Rewrite these subscriptions' secrets, which seals them (core.sealed); returns how many."""
    for subscription in session.scalars(select(WebhookSubscription).where(WebhookSubscription.id.in_(ids))):
        flag_modified(subscription, "secret")
        if subscription.previous_secret is not None:
            flag_modified(subscription, "previous_secret")
    session.flush()
    return len(ids)
