from __future__ import annotations

import pytest
from sqlalchemy import select

from leadscore.core.audit import AuditEntry
from leadscore.core.outbox import OutboxMessage
from leadscore.core.problems import NotFound, Problem
from leadscore.leads import service
from leadscore.leads.models import Lead
from leadscore.leads.schemas import LeadCreate, LeadUpdate
from leadscore.leads.service import LeadFilter
from tests.leads.factories import LeadFactory


def test_create_is_idempotent_by_external_id(session):
    lead, created = service.create(session, LeadCreate(external_id="crm-1", first_name="Ana", price_max=500000), actor="t")
    again, created_again = service.create(session, LeadCreate(external_id="crm-1", first_name="Anna"), actor="t")
    assert created and not created_again
    assert again.id == lead.id and again.first_name == "Anna" and again.price_max == 500000
    assert session.scalar(select(Lead).where(Lead.external_id == "crm-1")).id == lead.id
    topics = session.scalars(select(OutboxMessage.topic)).all()
    assert topics.count("lead.created") == 1 and topics.count("lead.rescore") == 2


def test_lead_created_event_carries_ids_origin_and_consent_but_no_contact_details(session):
    lead, _ = service.create(session, LeadCreate(dataset="web", external_id="form-9", first_name="Ana",
                                                 email="ana@example.com", source="website", consent_sms=True,
                                                 created_at="2026-03-01T10:00:00Z"), actor="t")
    event = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic == "lead.created")).one()
    assert event == {"lead_id": lead.id, "external_id": "form-9", "dataset": "web", "source": "website",
                     "channel": None, "status": "new", "intent": None, "created_at": "2026-03-01T10:00:00+00:00",
                     "consent_email": False, "consent_sms": True, "consent_phone": False, "consent_profiling": True}


def test_update_changes_fields_records_audit_and_queues_rescore(session):
    lead = LeadFactory(consent_sms=False)
    service.update(session, lead.id, LeadUpdate(status="contacted", consent_sms=True), actor="agent-7")
    assert lead.status == "contacted" and lead.consent_sms and lead.consent_updated_at is not None
    entry = session.scalars(select(AuditEntry)).one()
    assert entry.actor == "agent-7" and entry.details == {"fields": ["consent_sms", "status"]}
    assert session.scalars(select(OutboxMessage.topic)).all() == ["lead.rescore"]


def test_update_without_change_queues_nothing(session):
    lead = LeadFactory(status="new")
    service.update(session, lead.id, LeadUpdate(status="new"), actor="t")
    assert session.scalars(select(OutboxMessage)).all() == []


def test_update_refuses_inverted_budget_against_stored_value(session):
    lead = LeadFactory(price_min=400000, price_max=600000)
    with pytest.raises(Problem, match="price_min must not exceed price_max"):
        service.update(session, lead.id, LeadUpdate(price_min=700000), actor="t")


def test_missing_lead_is_not_found(session):
    with pytest.raises(NotFound):
        service.get(session, 123456)


def test_remove_deletes(session):
    lead = LeadFactory()
    service.remove(session, lead.id, actor="t")
    session.expire_all()
    assert session.get(Lead, lead.id) is None


@pytest.mark.parametrize("sort", ["-score", "score", "-created_at", "created_at", "id"])
def test_cursor_pagination_visits_every_lead_once_in_order(session, sort):
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)
    scores = [90, None, 40, 40, 75, None, 12, 40, 99, 60, 5]
    for i, score in enumerate(scores):
        # Some leads' arrival time is unknown (NULL): they sort last.
        created = None if i in (3, 7) else start + timedelta(hours=i % 4)
        LeadFactory(dataset="page", current_score=score, created_at=created)
    seen, cursor = [], None
    while True:
        page, cursor = service.list_leads(session, LeadFilter(dataset="page"), sort=sort, limit=3, cursor=cursor)
        seen.extend(page)
        if cursor is None:
            break
    assert len(seen) == len(scores) and len({lead.id for lead in seen}) == len(scores)
    if sort == "-score":
        got = [lead.current_score for lead in seen]
        assert got == sorted([s for s in scores if s is not None], reverse=True) + [None, None]
    if sort == "created_at":
        known = [lead.created_at for lead in seen if lead.created_at is not None]
        assert [lead.created_at for lead in seen] == sorted(known) + [None, None]


def test_filters(session):
    LeadFactory(dataset="f", status="new", current_score=80, current_grade="A", email="zq-unique@example.com")
    LeadFactory(dataset="f", status="contacted", current_score=30, current_grade="C", email="other@example.com")
    rows, _ = service.list_leads(session, LeadFilter(dataset="f", min_score=50), limit=10)
    assert [r.current_score for r in rows] == [80]
    rows, _ = service.list_leads(session, LeadFilter(dataset="f", status="contacted"), limit=10)
    assert [r.current_grade for r in rows] == ["C"]
    rows, _ = service.list_leads(session, LeadFilter(dataset="f", search="ZQ-UNIQUE@"), limit=10)
    assert len(rows) == 1


def test_a_cursor_from_another_sort_is_refused(session):
    LeadFactory.create_batch(3, dataset="c")
    _, cursor = service.list_leads(session, LeadFilter(dataset="c"), sort="id", limit=1)
    with pytest.raises(Problem):
        service.list_leads(session, LeadFilter(dataset="c"), sort="-score", cursor=cursor)
    with pytest.raises(Problem):
        service.list_leads(session, LeadFilter(dataset="c"), sort="id", cursor="!!garbage!!")
