"""Ingest interactions (one or a batch), idempotent by external id, and queue rescoring."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.agents.models import Agent
from leadscore.core import outbox
from leadscore.core.database import utcnow
from leadscore.core.problems import Problem
from leadscore.enrichment.models import Property
from leadscore.interactions.models import Interaction
from leadscore.interactions.schemas import BatchResult, InteractionCreate
from leadscore.leads.models import Lead
from leadscore.leads.service import RESCORE_TOPIC

# Clocks disagree a little; anything further ahead is a client bug.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _missing(session: Session, model: type, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    found = set(session.scalars(select(model.id).where(model.id.in_(ids))))
    return ids - found


def ingest(session: Session, items: Sequence[InteractionCreate]) -> BatchResult:
    """Store a batch atomically: every reference is checked first, so one bad item stores nothing."""
    now = utcnow()
    errors = []
    leads = _missing(session, Lead, {i.lead_id for i in items})
    agents = _missing(session, Agent, {i.agent_id for i in items if i.agent_id})
    properties = _missing(session, Property, {i.property_id for i in items if i.property_id})
    for index, item in enumerate(items):
        prefix = f"body.items.{index}" if len(items) > 1 else "body"
        if item.lead_id in leads:
            errors.append({"field": f"{prefix}.lead_id", "message": f"lead {item.lead_id} does not exist"})
        if item.agent_id in agents:
            errors.append({"field": f"{prefix}.agent_id", "message": f"agent {item.agent_id} does not exist"})
        if item.property_id in properties:
            errors.append({"field": f"{prefix}.property_id", "message": f"property {item.property_id} does not exist"})
        if item.occurred_at is not None and item.occurred_at > now + MAX_CLOCK_SKEW:
            errors.append({"field": f"{prefix}.occurred_at", "message": "is in the future"})
    if errors:
        raise Problem(422, f"{len(errors)} invalid item(s); nothing was stored", errors=errors)

    dataset_of = dict(session.execute(select(Lead.id, Lead.dataset).where(Lead.id.in_({i.lead_id for i in items}))).all())
    keyed = [(dataset_of[i.lead_id], i.external_id) for i in items if i.external_id]
    existing: dict[tuple[str, str], int] = {}
    if keyed:
        for row in session.execute(
            select(Interaction.id, Interaction.dataset, Interaction.external_id).where(
                Interaction.external_id.in_({k[1] for k in keyed})
            )
        ):
            existing[(row.dataset, row.external_id)] = row.id

    # Per request item: an existing id, or the row object (new, or a duplicate within this batch).
    slots: list[int | Interaction] = []
    stored, duplicates = 0, 0
    touched: set[int] = set()
    batch_keys: dict[tuple[str, str], Interaction] = {}
    for item in items:
        key = (dataset_of[item.lead_id], item.external_id) if item.external_id else None
        if key and key in existing:
            slots.append(existing[key])
            duplicates += 1
            continue
        if key and key in batch_keys:  # the same event twice in one batch
            slots.append(batch_keys[key])
            duplicates += 1
            continue
        row = Interaction(
            dataset=dataset_of[item.lead_id], external_id=item.external_id, lead_id=item.lead_id, type=item.type,
            occurred_at=item.occurred_at or now, channel=item.channel, direction=item.direction,
            agent_id=item.agent_id, property_id=item.property_id, meta=item.metadata,
        )
        session.add(row)
        if key:
            batch_keys[key] = row
        slots.append(row)
        stored += 1
        touched.add(item.lead_id)
    session.flush()
    for lead_id in sorted(touched):
        outbox.enqueue(session, RESCORE_TOPIC, {"lead_id": lead_id, "reason": "interaction"})
    ids = [slot if isinstance(slot, int) else slot.id for slot in slots]
    return BatchResult(stored=stored, duplicates=duplicates, ids=ids)


def list_for_lead(session: Session, lead_id: int, *, limit: int = 100) -> list[Interaction]:
    return list(
        session.scalars(
            select(Interaction)
            .where(Interaction.lead_id == lead_id)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
            .limit(limit)
        )
    )
