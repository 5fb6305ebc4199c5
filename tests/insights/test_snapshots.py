"""Precomputed dashboard statistics: stored snapshots, staleness, the refresh job and its wiring
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select

from leadscore.core import migrate
from leadscore.core.config import Settings
from leadscore.core.database import make_engine, session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.services import Services
from leadscore.demo.service import build_demo
from leadscore.insights import snapshots, tasks
from leadscore.insights.models import DashboardSnapshot
from leadscore.insights.queries import behaviour
from leadscore.leads.models import Lead, Outcome
from tests.leads.factories import LeadFactory, OutcomeFactory


@pytest.fixture
def runtime(fresh_database: Settings) -> Iterator[Runtime]:
    """A small demo world committed to a fresh database (jobs open their own transactions)."""
    fresh_database.scheduler_enabled = False
    runtime = Runtime.open(fresh_database)
    with session_scope(runtime.sessions) as session:
        build_demo(session, n_leads=300, seed=3, end=date(2025, 6, 30))
    try:
        yield runtime
    finally:
        runtime.close()


def _rows(runtime: Runtime) -> dict[tuple[str, str], DashboardSnapshot]:
    with session_scope(runtime.sessions, write=False) as session:
        return {(r.dataset, r.kind): r for r in session.scalars(select(DashboardSnapshot))}


def _add_won_lead(runtime: Runtime) -> None:
    with session_scope(runtime.sessions) as session:
        lead = Lead(dataset="demo", external_id="late-win", status="won", created_at=datetime(2025, 6, 1, tzinfo=UTC))
        session.add(lead)
        session.flush()
        session.add(Outcome(lead_id=lead.id, result="won", closed_at=datetime(2025, 6, 29, tzinfo=UTC)))


# --- the service: compute, store, read, staleness ------------------------------------------------

def test_snapshot_round_trips_the_analysis_it_stores(session):
    for i in range(60):
        OutcomeFactory(lead_id=LeadFactory(dataset="snap", pre_approved=i % 2 == 0).id,
                       result="won" if i % 3 == 0 else "lost")
    stored = snapshots.compute(session, "snap", "behaviour")
    found = snapshots.latest(session, "snap", "behaviour")
    assert found is not None and found.fingerprint == stored.fingerprint and found.computed_at == stored.computed_at
    rows, closed, won = snapshots.behaviour_rows(found)
    direct, direct_closed, direct_won = behaviour.behaviour_analysis(session, "snap")
    assert (closed, won) == (direct_closed, direct_won) == (60, 20)
    assert [(r.label, r.n_with, r.won_with, r.lift) for r in rows] == \
        [(r.label, r.n_with, r.won_with, r.lift) for r in direct]
    assert not snapshots.is_stale(session, found)
    # Storing again replaces the row: one snapshot per dataset and kind.
    snapshots.store(session, "snap", "behaviour", {"rows": [], "closed": 0, "won": 0}, fingerprint=[], seconds=0.0)
    assert session.scalar(select(func.count()).select_from(DashboardSnapshot)
                          .where(DashboardSnapshot.dataset == "snap")) == 1
    assert snapshots.behaviour_rows(snapshots.latest(session, "snap", "behaviour")) == ([], 0, 0)


def test_new_outcomes_scores_or_age_make_a_snapshot_stale(session):
    lead = LeadFactory(dataset="stale")
    OutcomeFactory(lead_id=lead.id)
    behaviour_snapshot = snapshots.compute(session, "stale", "behaviour")
    admin_snapshot = snapshots.compute(session, "stale", "admin")
    assert not snapshots.is_stale(session, behaviour_snapshot) and not snapshots.is_stale(session, admin_snapshot)
    assert admin_snapshot.data["quality"] and admin_snapshot.data["drift"]["status"] == "skipped"

    OutcomeFactory(lead_id=LeadFactory(dataset="stale").id, result="lost")
    assert snapshots.is_stale(session, behaviour_snapshot) and snapshots.is_stale(session, admin_snapshot)
    fresh = snapshots.compute(session, "stale", "behaviour")
    assert not snapshots.is_stale(session, fresh)
    assert snapshots.is_stale(session, fresh, now=fresh.computed_at + snapshots.MAX_AGE + timedelta(minutes=1))
    # Another dataset's data does not move this dataset's outcome fingerprint.
    OutcomeFactory(lead_id=LeadFactory(dataset="elsewhere").id)
    assert snapshots.fingerprint(session, "stale", "behaviour")[:3] == fresh.fingerprint[:3]


# --- the job: owns its transactions, recomputes only what moved ------------------------------------

def test_refresh_job_computes_once_then_only_what_moved(runtime):
    done = tasks.refresh_snapshots(runtime.sessions)
    assert set(done) == {"demo/behaviour", "demo/admin"}
    first = _rows(runtime)
    assert first[("demo", "behaviour")].data["closed"] > 0 and first[("demo", "admin")].data["quality"]

    assert tasks.refresh_snapshots(runtime.sessions) == {}  # nothing moved: nothing recomputed
    assert tasks.summary({}) == "all snapshots current"
    assert _rows(runtime)[("demo", "behaviour")].computed_at == first[("demo", "behaviour")].computed_at

    _add_won_lead(runtime)
    assert set(tasks.refresh_snapshots(runtime.sessions)) == {"demo/behaviour", "demo/admin"}
    after = _rows(runtime)
    assert after[("demo", "behaviour")].data["won"] == first[("demo", "behaviour")].data["won"] + 1
    assert after[("demo", "behaviour")].computed_at > first[("demo", "behaviour")].computed_at
    assert set(tasks.refresh_snapshots(runtime.sessions, force=True, kinds=("admin",))) == {"demo/admin"}


def test_fallback_computes_and_stores_once_when_no_snapshot_exists(runtime):
    assert _rows(runtime) == {}
    made = tasks.ensure_snapshot(runtime.sessions, "demo", "behaviour")
    assert made.data["closed"] > 0
    stored = _rows(runtime)[("demo", "behaviour")]
    assert stored.computed_at == made.computed_at
    _add_won_lead(runtime)  # stale now, but the fallback only fills a missing snapshot; the job refreshes
    again = tasks.ensure_snapshot(runtime.sessions, "demo", "behaviour")
    assert again.computed_at == made.computed_at and again.data == made.data


def test_scheduler_runs_the_snapshot_job_and_handlers_refresh(runtime):
    from leadscore.tasks import make_scheduler

    services = Services.open(runtime.settings, consume_in_process=True)
    try:
        scheduler = make_scheduler(services)
        assert tasks.JOB_NAME in scheduler.jobs
        assert scheduler.run_job(tasks.JOB_NAME) == "succeeded"
        assert set(_rows(runtime)) == {("demo", "behaviour"), ("demo", "admin")}
        assert tasks.JOB_NAME not in scheduler.due()  # ran just now: next run in REFRESH_MINUTES

        _add_won_lead(runtime)
        before = _rows(runtime)[("demo", "behaviour")].data["won"]
        # What `request_refresh` (e.g. after a batch rescoring) leads to once dispatched.
        services.tasks.handle(tasks.REFRESH_TOPIC, {"dataset": "demo"})
        assert _rows(runtime)[("demo", "behaviour")].data["won"] == before + 1
        # A promotion (after training) refreshes the admin statistics of that dataset.
        stamp = _rows(runtime)[("demo", "admin")].computed_at
        services.tasks.handle("model.promoted", {"dataset": "demo", "kind": "conversion"})
        assert _rows(runtime)[("demo", "admin")].computed_at == stamp  # nothing moved: not recomputed
        with session_scope(runtime.sessions) as session:  # a new lead moves the admin fingerprint
            session.add(Lead(dataset="demo", external_id="late-arrival", status="new"))
        services.tasks.handle("model.promoted", {"dataset": "demo", "kind": "conversion"})
        assert _rows(runtime)[("demo", "admin")].computed_at > stamp
    finally:
        services.close()


def test_request_refresh_goes_through_the_outbox(runtime):
    from leadscore.core.outbox import OutboxMessage

    with session_scope(runtime.sessions) as session:
        tasks.request_refresh(session, "demo")
    with session_scope(runtime.sessions, write=False) as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == tasks.REFRESH_TOPIC)).one()
    assert message.payload == {"dataset": "demo"}


# --- the migration ------------------------------------------------------------------------------------

def test_migration_0002_applies_on_first_run_and_reverts(fresh_database):
    engine = make_engine(fresh_database)
    try:
        migrate.upgrade(engine, "0001")  # a database made before this revision existed
        assert "dashboard_snapshots" not in inspect(engine).get_table_names()
        assert migrate.ensure_current(engine)  # what Runtime.open does on first run
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        assert "dashboard_snapshots" in inspect(engine).get_table_names()
        migrate.downgrade(engine, "0001")
        assert "dashboard_snapshots" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
