from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from leadscore.agents.models import Agent
from leadscore.core.bulk import existing_keys, upsert_rows
from leadscore.leads.models import Lead


def test_upsert_inserts_with_defaults_and_updates_only_given_columns(session):
    table = Lead.__table__
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [
        {"dataset": "b", "external_id": "1", "email": "a@x.io", "created_at": created, "attributes": {"n": 1}},
        {"dataset": "b", "external_id": "2", "email": "b@x.io", "created_at": created, "attributes": {}},
    ]
    upsert_rows(session, table, rows, key=["dataset", "external_id"])
    session.execute(table.update().where(table.c.external_id == "1").values(status="won"))
    upsert_rows(session, table, [{"dataset": "b", "external_id": "1", "email": "new@x.io"}], key=["dataset", "external_id"])
    lead = session.scalars(select(Lead).where(Lead.dataset == "b", Lead.external_id == "1")).one()
    # Given columns are overwritten; left-out ones keep their value (status) or default (consent).
    assert (lead.email, lead.status, lead.created_at, lead.attributes) == ("new@x.io", "won", created, {"n": 1})
    assert (lead.consent_profiling, lead.consent_email) == (True, False)


def test_upsert_with_nothing_to_update_keeps_existing_rows(session):
    table = Agent.__table__
    upsert_rows(session, table, [{"dataset": "b", "external_id": "a", "name": "First"}], key=["dataset", "external_id"])
    upsert_rows(session, table, [{"dataset": "b", "external_id": "a", "name": "Second"}], key=["dataset", "external_id"], update=[])
    agent = session.scalars(select(Agent).where(Agent.dataset == "b")).one()
    assert (agent.name, agent.specialties, agent.capacity) == ("First", [], 50)


def test_existing_keys_with_a_constant_dataset(session):
    table = Agent.__table__
    upsert_rows(session, table, [{"dataset": "k", "external_id": x, "name": x} for x in "abc"], key=["dataset", "external_id"])
    upsert_rows(session, table, [{"dataset": "other", "external_id": "a", "name": "a"}], key=["dataset", "external_id"])
    found = existing_keys(session, table, ["dataset", "external_id"], [("k", "a"), ("k", "c"), ("k", "z")])
    assert set(found) == {("k", "a"), ("k", "c")}
    mixed = existing_keys(session, table, ["dataset", "external_id"], [("k", "b"), ("other", "a")])
    assert set(mixed) == {("k", "b"), ("other", "a")}
    assert existing_keys(session, table, ["dataset", "external_id"], []) == {}
