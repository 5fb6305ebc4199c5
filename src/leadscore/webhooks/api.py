"""/v1/webhooks: subscriptions, their delivery log, redelivery and test pings (admin keys)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Response, status

from leadscore.core.deps import SessionDep, SettingsDep
from leadscore.core.params import MAX_ID
from leadscore.core.routes import router as api_router
from leadscore.core.security import AdminKey, Principal
from leadscore.core.security.schemas import ProblemDetail
from leadscore.webhooks import service
from leadscore.webhooks.models import EVENT_TYPES
from leadscore.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    DeliveryStatus,
    EventTypes,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)

WebhookId = Annotated[int, Path(ge=1, le=MAX_ID, description="The subscription's id.")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="The delivery attempt's id.")]

router = api_router(prefix="/webhooks", tags=["webhooks"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ProblemDetail, "description": "No such subscription."}}
DELIVERY_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDetail, "description": "No such delivery."},
    409: {"model": ProblemDetail, "description": "The event is already waiting to be delivered."},
}


def _actor(principal: Principal) -> str:
    return f"apikey:{principal.prefix}"


@router.get("/event-types", summary="List the event types a subscription can ask for")
def list_event_types(principal: AdminKey) -> EventTypes:
    """Every event type leadscore emits. Subscribe with `["*"]` to receive all, including ones added later."""
    return EventTypes(event_types=list(EVENT_TYPES))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a webhook subscription")
def create_webhook(body: WebhookCreate, session: SessionDep, settings: SettingsDep,
                   principal: AdminKey) -> WebhookCreated:
    """Events of the chosen types are POSTed to `url`, signed per the Standard Webhooks
    specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The response
    holds the signing secret; it is not shown again (rotate it to get a new one). A URL whose
    host is or resolves to a loopback, private, link-local or reserved address is refused
    (422) unless `LEADSCORE_WEBHOOK_ALLOWED_NETWORKS` allows its network."""
    subscription = service.create(
        session, url=str(body.url), event_types=list(body.events), description=body.description,
        actor=_actor(principal), allowed=settings.webhook_networks,
    )
    return WebhookCreated.model_validate({**WebhookRead.model_validate(subscription).model_dump(),
                                          "secret": subscription.secret})


@router.get("", summary="List webhook subscriptions")
def list_webhooks(session: SessionDep, principal: AdminKey) -> list[WebhookRead]:
    """All subscriptions, active and disabled, oldest first. Secrets are never listed."""
    return [WebhookRead.model_validate(s) for s in service.list_subscriptions(session)]


@router.get("/{webhook_id:int}", responses=NOT_FOUND, summary="Show one webhook subscription")
def get_webhook(webhook_id: WebhookId, session: SessionDep, principal: AdminKey) -> WebhookRead:
    """The subscription, with why and when it was disabled if it was."""
    return WebhookRead.model_validate(service.get(session, webhook_id))


@router.patch("/{webhook_id:int}", responses=NOT_FOUND, summary="Change or re-enable a webhook subscription")
def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, session: SessionDep, settings: SettingsDep, principal: AdminKey
) -> WebhookRead:
    """Change `url`, `events` or `description`. `active: true` re-enables a subscription
    disabled after repeated failures: the failure count is reset and deliveries kept
    while it was disabled resume in order. `active: false` pauses it."""
    subscription = service.update_subscription(session, webhook_id, body.changes(), actor=_actor(principal),
                                               allowed=settings.webhook_networks)
    return WebhookRead.model_validate(subscription)


@router.delete(
    "/{webhook_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND,
    summary="Delete a webhook subscription",
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, principal: AdminKey) -> Response:
    """Stops all deliveries to it and deletes its delivery log."""
    service.delete(session, webhook_id, actor=_actor(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id:int}/rotate-secret", responses=NOT_FOUND, summary="Rotate the signing secret")
def rotate_webhook_secret(webhook_id: WebhookId, session: SessionDep, principal: AdminKey) -> WebhookSecret:
    """Returns a new secret. For 24 hours deliveries carry two signatures (new and old
    secret), so the receiver can switch without rejecting anything."""
    subscription = service.rotate_secret(session, webhook_id, actor=_actor(principal))
    return WebhookSecret(
        id=subscription.id, secret=subscription.secret,
        previous_secret_expires_at=subscription.previous_secret_expires_at,
    )


@router.get("/{webhook_id:int}/deliveries", responses=NOT_FOUND, summary="The delivery log of a subscription")
def list_webhook_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    principal: AdminKey,
    status_: Annotated[DeliveryStatus | None, Query(alias="status", description="Only attempts in this state.")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """One row per attempt, newest first: status, the receiver's status code and answer
    (cut to 2,048 characters), error, duration, and when a pending retry is due."""
    rows, next_cursor = service.list_deliveries(session, webhook_id, status=status_, before=cursor, limit=limit)
    return DeliveryPage(items=[DeliveryRead.of(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/deliveries/{delivery_id:int}/redeliver", status_code=status.HTTP_202_ACCEPTED, responses=DELIVERY_NOT_FOUND,
    summary="Send a delivered (or failed) event again",
)
def redeliver(delivery_id: DeliveryId, session: SessionDep, principal: AdminKey) -> DeliveryRead:
    """Queues one more attempt of that delivery's event to its subscription, with the same
    `webhook-id`, even if the subscription is disabled. The new attempt is not retried
    automatically; follow it in the delivery log."""
    return DeliveryRead.of(service.redeliver(session, delivery_id, actor=_actor(principal)))


@router.post(
    "/{webhook_id:int}/test", status_code=status.HTTP_202_ACCEPTED, responses=NOT_FOUND,
    summary="Send a test event",
)
def send_test_event(webhook_id: WebhookId, session: SessionDep, principal: AdminKey) -> DeliveryRead:
    """Queues a signed `webhook.test` event to this subscription (whatever its filter, and
    even when disabled), to check the receiver and its signature verification."""
    return DeliveryRead.of(service.send_test(session, webhook_id, actor=_actor(principal)))
