"""Storing the world: fast Core writes, rebuild replaces, other datasets untouched (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC

import pandas as pd
from sqlalchemy import func, select

from leadscore.agents.models import Agent
from leadscore.core.audit import AuditEntry
from leadscore.demo.world import build_world
from leadscore.demo.writer import count_rows, write_world
from leadscore.enrichment.models import Property
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.routing.models import Assignment
from tests.agents.factories import AgentFactory
from tests.demo.conftest import END
from tests.interactions.factories import InteractionFactory
from tests.leads.factories import LeadFactory


def _contents(session) -> dict[str, pd.DataFrame]:
    """Everything the demo wrote, keyed by natural keys instead of surrogate ids."""
    agent_ext = dict(session.execute(select(Agent.id, Agent.external_id).where(Agent.dataset == "demo")).all())
    prop_ext = dict(session.execute(select(Property.id, Property.external_id).where(Property.dataset == "demo")).all())
    lead_ext = dict(session.execute(select(Lead.id, Lead.external_id).where(Lead.dataset == "demo")).all())
    skip = {"id", "inserted_at", "updated_at"}

    def frame(model, where, order):
        columns = [c for c in model.__table__.c if c.name not in skip]
        rows = session.execute(select(*columns).where(where).order_by(*order)).all()
        data = pd.DataFrame(rows, columns=[c.name for c in columns])
        for column, mapping in (("agent_id", agent_ext), ("property_id", prop_ext), ("lead_id", lead_ext)):
            if column in data:
                data[column] = data[column].map(mapping)
        return data

    demo_leads = select(Lead.id).where(Lead.dataset == "demo")
    return {
        "agents": frame(Agent, Agent.dataset == "demo", [Agent.external_id]),
        "properties": frame(Property, Property.dataset == "demo", [Property.external_id]),
        "leads": frame(Lead, Lead.dataset == "demo", [Lead.external_id]),
        "interactions": frame(Interaction, Interaction.dataset == "demo", [Interaction.external_id]),
        "outcomes": frame(Outcome, Outcome.lead_id.in_(demo_leads), [Outcome.closed_at, Outcome.result])
        .sort_values(["lead_id"]).reset_index(drop=True),
        "assignments": frame(Assignment, Assignment.lead_id.in_(demo_leads), [Assignment.assigned_at])
        .sort_values(["lead_id", "assigned_at"]).reset_index(drop=True),
    }


def test_world_is_stored_and_reads_back(session):
    world = build_world(700, seed=3, end=END)
    counts = write_world(session, world)
    assert count_rows(session) == counts
    assert counts["leads"] == 700 and counts["interactions"] == len(world.interactions) > 700 * 10

    leads = {lead.external_id: lead for lead in session.scalars(select(Lead).where(Lead.dataset == "demo"))}
    first = world.leads.iloc[0]
    stored = leads[first["external_id"]]
    assert stored.created_at == pd.Timestamp(first["created_at"]).to_pydatetime().replace(tzinfo=UTC)
    assert stored.intent == first["intent"] and stored.source == first["source"]
    assert all(lead.agent_id is not None for lead in leads.values())
    agent = session.get(Agent, stored.agent_id)
    assert agent.dataset == "demo" and agent.territories and agent.languages[0] == "en"
    assert "skill" not in agent.attributes  # hidden truth stays out of the database

    views = session.scalars(
        select(Interaction).where(Interaction.lead_id == stored.id).order_by(Interaction.occurred_at)
    ).all()
    assert views[0].occurred_at == stored.created_at and views[0].direction == "inbound"
    assert all(isinstance(v.meta, dict) for v in views)
    assert any(v.meta.get("action") == "first_response" for v in views)
    linked = session.scalar(
        select(func.count()).select_from(Interaction).join(Property, Interaction.property_id == Property.id)
        .where(Interaction.dataset == "demo", Property.dataset == "demo")
    )
    assert linked == int((world.interactions["prop"] >= 0).sum())

    won = session.scalars(select(Outcome).join(Lead).where(Lead.dataset == "demo", Outcome.result == "won")).all()
    assert won and all(o.deal_value > 0 and o.closed_at is not None for o in won)
    statuses = dict(session.execute(select(Lead.status, func.count()).where(Lead.dataset == "demo").group_by(Lead.status)).all())
    assert statuses.get("won", 0) == len(won)
    current = session.scalar(
        select(func.count()).select_from(Assignment).join(Lead).where(Lead.dataset == "demo", Assignment.ended_at.is_(None))
    )
    assert current == int((world.truth["outcome"] == "open").sum())
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "demo.build")) == 1


def test_rebuild_replaces_the_demo_and_nothing_else(session):
    other_lead = LeadFactory(dataset="default", external_id="keep-me")
    InteractionFactory(lead_id=other_lead.id)
    AgentFactory(dataset="default", external_id="agent-001")
    session.flush()

    write_world(session, build_world(600, seed=1, end=END))
    first = _contents(session)
    agent_ids = dict(session.execute(select(Agent.external_id, Agent.id).where(Agent.dataset == "demo")).all())
    property_ids = session.execute(select(func.min(Property.id), func.max(Property.id)).where(Property.dataset == "demo")).one()

    other = build_world(900, seed=2, end=END)
    write_world(session, other)
    assert count_rows(session)["leads"] == 900
    assert count_rows(session)["interactions"] == len(other.interactions)
    assert count_rows(session)["agents"] == len(other.agents)
    assert _contents(session)["leads"]["external_id"].is_unique

    write_world(session, build_world(600, seed=1, end=END))
    again = _contents(session)
    for name, frame in first.items():
        pd.testing.assert_frame_equal(again[name], frame, check_dtype=False, obj=name)
    # Agents and properties keep their ids across rebuilds.
    assert dict(session.execute(select(Agent.external_id, Agent.id).where(Agent.dataset == "demo")).all()) == agent_ids
    assert session.execute(
        select(func.min(Property.id), func.max(Property.id)).where(Property.dataset == "demo")
    ).one() == property_ids

    # The other dataset is untouched.
    kept = session.scalar(select(Lead).where(Lead.dataset == "default", Lead.external_id == "keep-me"))
    assert kept is not None
    assert session.scalar(select(func.count()).select_from(Interaction).where(Interaction.lead_id == kept.id)) == 1
    assert session.scalar(select(func.count()).select_from(Agent).where(Agent.dataset == "default")) == 1
    # New leads continue after existing ids (explicit ids must not collide with later inserts).
    later = LeadFactory(dataset="default", external_id="after-demo")
    session.flush()
    assert later.id > session.scalar(select(func.max(Lead.id)).where(Lead.dataset == "demo"))
