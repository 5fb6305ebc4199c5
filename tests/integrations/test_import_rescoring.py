"""An import that changes leads or their interactions gets those open leads rescored, and only those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from leadscore.core.database import session_scope
from leadscore.core.outbox import OutboxMessage
from leadscore.core.services import Services
from tests.support.work import settle
from leadscore.integrations.service import IMPORTED_TOPIC
from leadscore.leads import service as leads
from leadscore.leads.models import Lead, Outcome
from leadscore.leads.schemas import LeadCreate
from leadscore.registry.tasks import run_training_job


def _state(services: Services, dataset: str) -> dict[str, tuple]:
    with session_scope(services.runtime.sessions, write=False) as session:
        return {lead.external_id: (lead.current_score, lead.scored_at)
                for lead in session.scalars(select(Lead).where(Lead.dataset == dataset))}


def test_imported_leads_and_interactions_are_scored(services, run_import, write_file):
    with session_scope(services.runtime.sessions) as session:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(30):  # history: the rules model becomes the champion (cold start)
            lead = Lead(dataset="imp", external_id=f"h{i}", created_at=start + timedelta(days=i), attributes={},
                        status="won" if i % 3 == 0 else "lost")
            session.add(lead)
            session.flush()
            session.add(Outcome(lead_id=lead.id, result=lead.status, closed_at=lead.created_at + timedelta(days=9)))
    assert run_training_job(services.runtime.sessions, dataset="imp").promoted
    with session_scope(services.runtime.sessions) as session:
        for name in ("old-1", "old-2"):
            leads.create(session, LeadCreate(dataset="imp", external_id=name, pre_approved=False), actor="test")
    settle(services)
    before = _state(services, "imp")
    assert before["old-1"][0] is not None and before["old-2"][0] is not None

    now = datetime.now(UTC)
    new_leads = write_file("leads.csv", "id,pre_approved,timeline_months\nnew-1,true,1\nnew-2,false,12\n")
    assert run_import("leads", new_leads, "--dataset", "imp", "--id", "id").exit_code == 0
    kinds = ["listing_view"] * 12 + ["showing", "saved_search", "email_click"]
    events = "".join(f"old-1,{kind},{(now - timedelta(hours=h)).isoformat()},inbound\n" for h, kind in enumerate(kinds))
    activity = write_file("events.csv", "lead,type,occurred_at,direction\n" + events)
    assert run_import("interactions", activity, "--dataset", "imp", "--lead-id", "lead").exit_code == 0
    with session_scope(services.runtime.sessions, write=False) as session:
        queued = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == IMPORTED_TOPIC))]
    assert [(p["dataset"], p["kind"]) for p in queued] == [("imp", "leads"), ("imp", "interactions")]

    settle(services)  # the server (here: this process) dispatches what the commands queued
    after = _state(services, "imp")
    assert after["new-1"][0] is not None and after["new-2"][0] is not None, "imported leads are scored"
    assert after["old-1"][1] > before["old-1"][1], "a lead with imported interactions is rescored"
    assert after["old-2"] == before["old-2"], "a lead the imports did not touch is left alone"
    assert all(after[k] == before[k] for k in before if k.startswith("h")), "closed leads are left alone"
