"""``Idempotency-Key`` for POST endpoints: a retried request returns the first answer.

The key, a hash of the request body and the response are stored in the same
transaction as the work, so either both happened or neither did. Keys are
per API key and kept for ``RETENTION``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadscore.core.database import Base, utcnow
from leadscore.core.problems import Problem

RETENTION = timedelta(hours=24)
M = TypeVar("M", bound=BaseModel)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Any unique string (e.g. a UUID). Retrying with the same key and body returns the first "
        "response without doing the work again; the same key with another body is refused (422).",
    ),
]


class IdempotentRequest(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def _hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def replay_or_run(
    session: Session, principal: Any, key: str | None, body: Any, work: Callable[[], M], model: type[M]
) -> M:
    if key is None:
        return work()
    digest = _hash(body)
    stored = session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.api_key_id == principal.key_id,
            IdempotentRequest.key == key,
            IdempotentRequest.created_at >= utcnow() - RETENTION,
        )
    )
    if stored is not None:
        if stored.request_hash != digest:
            raise Problem(422, "this Idempotency-Key was already used with a different request body",
                          errors=[{"field": "header.Idempotency-Key", "message": "reused with another body"}])
        return model.model_validate(stored.response)
    # An expired entry with the same key would block the unique constraint.
    session.execute(delete(IdempotentRequest).where(
        IdempotentRequest.api_key_id == principal.key_id, IdempotentRequest.key == key))
    result = work()
    session.add(IdempotentRequest(api_key_id=principal.key_id, key=key, request_hash=digest,
                                  response=result.model_dump(mode="json")))
    session.flush()
    return result


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at < utcnow() - RETENTION))
    return result.rowcount or 0
