"""Standard Webhooks wire format: secrets, the body, the signed headers, backoff.

See https://www.standardwebhooks.com: the body is
``{"type": ..., "timestamp": ..., "data": {...}}``; ``webhook-id`` stays the
same across retries of one event, ``webhook-timestamp`` is the time of the
attempt, and ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>`` of
``"{id}.{timestamp}.{body}"``, one per valid secret separated by spaces.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from leadscore.core.config import Settings

SECRET_PREFIX = "whsec_"
USER_AGENT = "leadscore-webhooks/1"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def iso_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The exact bytes that are signed and sent; stable for a stored event."""
    envelope = {"type": event_type, "timestamp": iso_timestamp(occurred_at), "data": data}
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signed_headers(message_id: str, body: str, secrets_: Iterable[str], *, now: datetime) -> dict[str, str]:
    """Headers for one attempt; every secret given contributes a signature."""
    moment = now.astimezone(UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, moment, body) for secret in secrets_)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signatures,
    }


def retry_delay(
    failed_attempt: int,
    settings: Settings,
    *,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds before the attempt after ``failed_attempt`` (1-based): full jitter,
    uniformly random in [0, min(cap, base * 2**(failed_attempt - 1))]."""
    ceiling = min(
        settings.webhook_backoff_max_seconds,
        settings.webhook_backoff_base_seconds * 2 ** min(failed_attempt - 1, 60),
    )
    return uniform(0.0, ceiling)
