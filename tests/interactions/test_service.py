from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadscore.core.outbox import OutboxMessage
from leadscore.core.problems import Problem
from leadscore.interactions import service
from leadscore.interactions.models import Interaction
from leadscore.interactions.schemas import InteractionCreate
from tests.leads.factories import LeadFactory


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(Interaction))


def test_batch_is_stored_and_each_lead_queued_once(session):
    a, b = LeadFactory(), LeadFactory()
    items = [InteractionCreate(lead_id=a.id, type="listing_view"), InteractionCreate(lead_id=a.id, type="email_open"),
             InteractionCreate(lead_id=b.id, type="call", direction="outbound")]
    result = service.ingest(session, items)
    assert result.stored == 3 and result.duplicates == 0 and len(set(result.ids)) == 3
    payloads = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic == "lead.rescore")).all()
    assert sorted(p["lead_id"] for p in payloads) == sorted([a.id, b.id])


def test_external_id_makes_retries_store_once(session):
    lead = LeadFactory()
    item = InteractionCreate(lead_id=lead.id, type="showing", external_id="evt-1")
    first = service.ingest(session, [item])
    second = service.ingest(session, [item, InteractionCreate(lead_id=lead.id, type="showing", external_id="evt-2")])
    assert first.stored == 1 and second.stored == 1 and second.duplicates == 1
    assert second.ids[0] == first.ids[0]
    assert _count(session) == 2


def test_duplicate_inside_one_batch_is_stored_once(session):
    lead = LeadFactory()
    item = InteractionCreate(lead_id=lead.id, type="text", external_id="same")
    result = service.ingest(session, [item, item])
    assert result.stored == 1 and result.duplicates == 1 and result.ids[0] == result.ids[1]


def test_one_bad_reference_stores_nothing_and_names_the_item(session):
    lead = LeadFactory()
    items = [InteractionCreate(lead_id=lead.id, type="call"), InteractionCreate(lead_id=999999, type="call")]
    with pytest.raises(Problem) as info:
        service.ingest(session, items)
    assert info.value.errors == [{"field": "body.items.1.lead_id", "message": "lead 999999 does not exist"}]
    assert _count(session) == 0


def test_future_timestamps_are_refused(session):
    lead = LeadFactory()
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(Problem, match="invalid item"):
        service.ingest(session, [InteractionCreate(lead_id=lead.id, type="call", occurred_at=future)])
