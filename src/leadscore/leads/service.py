"""Lead use cases: create (idempotent by external id), read, update, delete, list.

Services flush and never commit. Writes record an audit entry and put the
follow-up work (rescoring, ``lead.created`` webhooks) in the outbox.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.orm import Session

from leadscore.core import audit, outbox
from leadscore.core.database import utcnow
from leadscore.core.problems import NotFound, Problem
from leadscore.leads.models import Lead
from leadscore.leads.schemas import LeadCreate, LeadUpdate

SortKey = Literal["score", "-score", "created_at", "-created_at", "id"]

RESCORE_TOPIC = "lead.rescore"


def get(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


def get_by_external_id(session: Session, *, dataset: str, external_id: str) -> Lead | None:
    return session.scalar(select(Lead).where(Lead.dataset == dataset, Lead.external_id == external_id))


def _apply(lead: Lead, fields: dict[str, Any]) -> list[str]:
    changed = []
    for name, value in fields.items():
        if name == "attributes":
            merged = {**(lead.attributes or {}), **(value or {})}
            if merged != lead.attributes:
                lead.attributes = merged
                changed.append(name)
            continue
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            changed.append(name)
    if any(name.startswith("consent_") for name in changed):
        lead.consent_updated_at = utcnow()
    return changed


def create(session: Session, data: LeadCreate, *, actor: str) -> tuple[Lead, bool]:
    """Create a lead, or update the one with the same (dataset, external_id). Returns (lead, created)."""
    fields = data.model_dump(exclude_unset=True, exclude={"external_id", "dataset"})
    external_id = data.external_id or f"api-{uuid.uuid4().hex}"
    lead = get_by_external_id(session, dataset=data.dataset, external_id=external_id) if data.external_id else None
    created = lead is None
    if created:
        lead = Lead(dataset=data.dataset, external_id=external_id, attributes={}, status="new")
        lead.created_at = fields.pop("created_at", None) or utcnow()
        # Booleans with defaults must not be None when the client omitted them.
        for consent in ("consent_email", "consent_sms", "consent_phone"):
            if fields.get(consent) is None:
                fields.pop(consent, None)
        if fields.get("consent_profiling") is None:
            fields.pop("consent_profiling", None)
        _apply(lead, fields)
        session.add(lead)
        session.flush()
        changed = list(fields)
    else:
        fields.pop("created_at", None)
        changed = _apply(lead, {k: v for k, v in fields.items() if v is not None or k in data.model_fields_set})
        session.flush()
    audit.record(session, actor=actor, action="lead.created" if created else "lead.updated",
                 entity_type="lead", entity_id=lead.id, details={"fields": sorted(changed)})
    if created:
        outbox.enqueue(session, "lead.created", created_event(lead))
    if created or changed:
        outbox.enqueue(session, RESCORE_TOPIC, {"lead_id": lead.id, "reason": "lead.created" if created else "lead.updated"})
    return lead, created


def created_event(lead: Lead) -> dict[str, Any]:
    """The ``lead.created`` event's data: enough for a subscriber to match and route the lead (its
    ids, where it came from, its consent flags, which travel with every lead), without the contact
    details a delivery log would then keep; ``GET /v1/leads/{id}`` has those."""
    return {
        "lead_id": lead.id, "external_id": lead.external_id, "dataset": lead.dataset,
        "source": lead.source, "channel": lead.channel, "status": lead.status, "intent": lead.intent,
        "created_at": lead.created_at.isoformat() if lead.created_at else None,
        "consent_email": lead.consent_email, "consent_sms": lead.consent_sms, "consent_phone": lead.consent_phone,
        "consent_profiling": lead.consent_profiling,
    }


def update(session: Session, lead_id: int, data: LeadUpdate, *, actor: str) -> Lead:
    lead = get(session, lead_id)
    fields = data.model_dump(exclude_unset=True)
    for name in ("consent_email", "consent_sms", "consent_phone", "consent_profiling", "status"):
        if name in fields and fields[name] is None:
            raise Problem(422, f"{name} cannot be null", errors=[{"field": f"body.{name}", "message": "cannot be null"}])
    if "price_min" in fields or "price_max" in fields:
        low = fields.get("price_min", lead.price_min)
        high = fields.get("price_max", lead.price_max)
        if low is not None and high is not None and low > high:
            raise Problem(422, "price_min must not exceed price_max",
                          errors=[{"field": "body.price_min", "message": "must not exceed price_max"}])
    changed = _apply(lead, fields)
    session.flush()
    if changed:
        audit.record(session, actor=actor, action="lead.updated", entity_type="lead", entity_id=lead.id,
                     details={"fields": sorted(changed)})
        outbox.enqueue(session, RESCORE_TOPIC, {"lead_id": lead.id, "reason": "lead.updated"})
    return lead


def remove(session: Session, lead_id: int, *, actor: str) -> None:
    """Delete a lead and everything hanging off it (interactions, scores, outcome)."""
    lead = get(session, lead_id)
    session.execute(delete(Lead).where(Lead.id == lead.id))
    audit.record(session, actor=actor, action="lead.deleted", entity_type="lead", entity_id=lead_id,
                 details={"external_id": lead.external_id, "dataset": lead.dataset})


@dataclass(frozen=True)
class LeadFilter:
    dataset: str | None = None
    status: str | None = None
    grade: str | None = None
    agent_id: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    source: str | None = None
    search: str | None = None


class BadCursor(Problem):
    def __init__(self) -> None:
        super().__init__(422, "cursor is not valid for this listing; start again without it",
                         errors=[{"field": "query.cursor", "message": "invalid or expired cursor"}])


def _encode_cursor(sort: str, value: Any, lead_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"s": sort, "v": value, "id": lead_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort or not isinstance(data["id"], int):
            raise ValueError
        value = data["v"]
        if sort.lstrip("-") == "created_at" and value is not None:
            value = datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, int):
            raise ValueError
        return value, data["id"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadCursor() from None


def list_leads(
    session: Session, filters: LeadFilter, *, sort: SortKey = "-score", limit: int = 50, cursor: str | None = None
) -> tuple[list[Lead], str | None]:
    """Keyset pagination: stable under inserts, cheap at any depth."""
    query = select(Lead)
    f = filters
    conditions = [
        Lead.dataset == f.dataset if f.dataset else None,
        Lead.status == f.status if f.status else None,
        Lead.current_grade == f.grade if f.grade else None,
        Lead.agent_id == f.agent_id if f.agent_id is not None else None,
        Lead.current_score >= f.min_score if f.min_score is not None else None,
        Lead.current_score <= f.max_score if f.max_score is not None else None,
        Lead.created_at >= f.created_after if f.created_after else None,
        Lead.created_at < f.created_before if f.created_before else None,
        Lead.source == f.source if f.source else None,
    ]
    if f.search:
        pattern = f"%{f.search.lower()}%"
        from sqlalchemy import func

        conditions.append(or_(func.lower(Lead.email).like(pattern), func.lower(Lead.first_name).like(pattern),
                              func.lower(Lead.last_name).like(pattern), Lead.external_id == f.search))
    query = query.where(*[c for c in conditions if c is not None])

    field = sort.lstrip("-")
    descending = sort.startswith("-")
    column = {"score": Lead.current_score, "created_at": Lead.created_at, "id": Lead.id}[field]
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        query = query.where(_after(column, value, last_id, descending, nullable=field != "id"))
    if field == "id":
        order = [Lead.id.desc() if descending else Lead.id.asc()]
    else:
        # NULLs (unscored, or arrival time unknown) last in either direction; NULL
        # ordering differs by backend, so spell it out.
        order = [column.is_(None), column.desc() if descending else column.asc(), Lead.id.asc()]
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(sort, getattr(last, "current_score" if field == "score" else field), last.id)
    return rows, next_cursor


def _after(column: Any, value: Any, last_id: int, descending: bool, *, nullable: bool) -> Any:
    if column is Lead.id:
        return Lead.id < last_id if descending else Lead.id > last_id
    if nullable and value is None:
        # Already inside the unscored tail (sorted by id).
        return and_(column.is_(None), Lead.id > last_id)
    beyond = column < value if descending else column > value
    tail = column.is_(None) if nullable else false()
    return or_(beyond, and_(column == value, Lead.id > last_id), tail)
