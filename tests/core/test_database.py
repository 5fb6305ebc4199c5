from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from leadscore.core import migrate
from leadscore.core.audit import AuditEntry, record
from leadscore.core.config import ConfigError, load_settings
from leadscore.core.database import check_connection, make_engine
from leadscore.core.tables import metadata
from leadscore.leads.models import Lead
from tests.leads.factories import LeadFactory


def test_migrations_create_every_table(engine):
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert migrate.current_revision(engine) == migrate.head_revision(engine)


def test_migrations_match_the_models(engine):
    """Autogenerate against a migrated database finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = [
            d for d in compare_metadata(context, metadata)
            # SQLite reflects unnamed-index details differently; tables and columns must match.
            if d[0] in ("add_table", "remove_table", "add_column", "remove_column")
        ]
    assert diff == []


def test_datetimes_come_back_in_utc(session):
    eastern = timezone(timedelta(hours=-5))
    lead = LeadFactory(created_at=datetime(2026, 2, 1, 7, 0, tzinfo=eastern))
    session.expire_all()
    loaded = session.get(Lead, lead.id)
    assert loaded.created_at == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    assert loaded.created_at.tzinfo is not None


def test_json_attributes_round_trip(session):
    lead = LeadFactory(attributes={"visits": 5, "score": 2.5, "newsletter": True, "city": "Seattle"})
    session.expire_all()
    assert session.get(Lead, lead.id).attributes == {
        "visits": 5, "score": 2.5, "newsletter": True, "city": "Seattle"
    }


def test_natural_key_is_unique(session):
    LeadFactory(dataset="x", external_id="same")
    with pytest.raises(IntegrityError):
        LeadFactory(dataset="x", external_id="same")


def test_status_outside_the_pipeline_is_refused(session):
    with pytest.raises(IntegrityError):
        LeadFactory(status="maybe")


def test_rollback_isolation_part_one(session):
    LeadFactory(external_id="isolation-check")
    assert session.scalar(select(Lead).where(Lead.external_id == "isolation-check")) is not None


def test_rollback_isolation_part_two(session):
    # Runs after part one: its row must have been rolled back.
    assert session.scalar(select(Lead).where(Lead.external_id == "isolation-check")) is None


def test_audit_entries_are_stored(session):
    record(session, actor="admin", action="lead.update", entity_type="lead", entity_id=7, details={"field": "status"})
    session.flush()
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.entity_id, entry.details) == ("admin", "7", {"field": "status"})


def test_unreachable_postgres_is_a_one_line_error():
    settings = load_settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigError) as info:
        check_connection(make_engine(settings))
    assert str(info.value).startswith("LEADSCORE_DATABASE_URL=postgresql+psycopg://nobody@127.0.0.1:1/none: cannot connect")
