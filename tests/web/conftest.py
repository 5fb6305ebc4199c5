"""A small demo world behind the real app, with one login per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadscore.app import create_app
from leadscore.core.config import Settings, load_settings
from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.demo.service import build_demo
from leadscore.insights import service as insights
from leadscore.insights.models import LeadPrediction
from leadscore.leads.models import Lead
from leadscore.web import service

PASSWORD = "correct horse battery"


@dataclass
class World:
    settings: Settings
    agent_id: int
    other_agent_id: int
    own_lead: int
    other_lead: int


def seed(settings: Settings, *, n_leads: int, predictions: bool = True) -> World:
    """Demo leads, one login per role (agent linked to the busiest agent), forecasts for some leads."""
    runtime = Runtime.open(settings)
    try:
        with session_scope(runtime.sessions) as session:
            build_demo(session, n_leads=n_leads, seed=3, end=date(2025, 6, 30))
            busiest = session.execute(select(Lead.agent_id, func.count()).where(Lead.agent_id.is_not(None))
                                      .group_by(Lead.agent_id).order_by(func.count().desc()).limit(2)).all()
            agent_id, other_id = busiest[0][0], busiest[1][0]
            service.create_user(session, email="agent@example.com", name="Alex Agent", role="agent",
                                password=PASSWORD, agent_id=agent_id)
            service.create_user(session, email="manager@example.com", name="Morgan Manager", role="manager",
                                password=PASSWORD)
            service.create_user(session, email="admin@example.com", name="Ada Admin", role="admin",
                                password=PASSWORD)
            own = session.scalar(select(Lead.id).where(Lead.agent_id == agent_id, Lead.status.not_in(("won", "lost")))
                                 .order_by(Lead.id).limit(1))
            other = session.scalar(select(Lead.id).where(Lead.agent_id == other_id).order_by(Lead.id).limit(1))
            if predictions:  # stand-in for the predictive models' output on the agent's open leads
                ids = list(session.scalars(select(Lead.id).where(Lead.agent_id == agent_id,
                                                                 Lead.status.not_in(("won", "lost")))))
                for i, lead_id in enumerate(ids):
                    p90 = 0.05 + (i % 10) / 20
                    session.add(LeadPrediction(lead_id=lead_id, p_convert_30d=p90 / 3, p_convert_60d=p90 / 2,
                                               p_convert_90d=p90, median_days_to_convert=20 + i % 40,
                                               deal_value_p10=300_000, deal_value_p50=500_000 + 1000 * i,
                                               deal_value_p90=900_000, expected_value=p90 * (500_000 + 1000 * i),
                                               next_action="call", next_action_uplift=0.02, best_contact_hour=18))
    finally:
        runtime.close()
    insights.clear_cache()
    return World(settings, agent_id, other_id, own, other)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("webhome")
    return seed(load_settings(home=home, database_url=f"sqlite:///{home / 'web.db'}", scheduler_enabled=False),
                n_leads=400)


@pytest.fixture(scope="module")
def app_client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings), raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD):  # noqa: ANN201
    client.cookies.clear()
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text),
                                       "next": "/"})
