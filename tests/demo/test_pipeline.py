"""``leadscore demo`` leaves a world where each role logs in and finds every panel filled
with numbers from the models (SQLite and PostgreSQL). Trains real models: marked slow."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadscore.app import create_app
from leadscore.core.config import Settings
from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.demo.cli import demo_command
from leadscore.insights import snapshots
from leadscore.insights.models import LeadPrediction
from leadscore.leads.models import Lead, Outcome
from leadscore.registry.models import ModelVersion
from leadscore.scoring.models import Score
from leadscore.web import service as users
from leadscore.web.models import User
from tests.web.conftest import login

pytestmark = pytest.mark.slow
PASSWORD = "demo password 42"
# What a page says when a panel has nothing to show.
EMPTY = ("No model has been trained", "Not measurable yet", "No calibration plot yet", "Drift is not measurable",
         "Forecasts are not available yet", "No closed leads to learn from", "There are no leads yet")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("demo")(demo_command)
    app.command("noop")(lambda: None)
    return app


def test_demo_trains_scores_and_creates_a_login_per_role(cli_env, fresh_database: Settings):
    args = ["demo", "--leads", "1500", "--seed", "3", "--end", "2025-06-30", "--history-weeks", "8",
            "--password", PASSWORD]
    result = CliRunner().invoke(_app(), args, env=cli_env)
    assert result.exit_code == 0, result.output
    for text in ("demo-agent@example.com", "demo-manager@example.com", "demo-admin@example.com", PASSWORD,
                 "history model", "conversion v", "forecasts and next actions", "demo/behaviour", "demo/admin"):
        assert text in result.output, text

    fresh_database.scheduler_enabled = False
    runtime = Runtime.open(fresh_database)
    try:
        with session_scope(runtime.sessions, write=False) as session:
            logins = {u.role: u for u in session.scalars(select(User))}
            assert set(logins) == {"agent", "manager", "admin"}
            for user in logins.values():
                assert users.authenticate(session, user.email, PASSWORD) is not None
            agent_open = session.scalar(select(func.count()).select_from(Lead).where(
                Lead.agent_id == logins["agent"].agent_id, Lead.status.not_in(("won", "lost"))))
            assert agent_open > 0
            champions = dict(session.execute(select(ModelVersion.kind, ModelVersion.algorithm).where(
                ModelVersion.dataset == "demo", ModelVersion.state == "champion")).all())
            assert set(champions) == {"conversion", "time_to_convert", "deal_value", "next_action"}
            assert champions["conversion"] == "lightgbm-gam"
            open_leads = session.scalar(select(func.count()).select_from(Lead).where(
                Lead.dataset == "demo", Lead.status.not_in(("won", "lost")), Lead.consent_profiling.is_(True)))
            predictions = session.execute(select(
                func.count(), func.count(LeadPrediction.p_convert_30d), func.count(LeadPrediction.deal_value_p50),
                func.count(LeadPrediction.next_action), func.count(LeadPrediction.expected_value))).one()
            assert tuple(predictions) == (open_leads,) * 5
            # Scores given before leads closed (the history replay): realised accuracy is measurable now.
            assert session.scalar(select(func.count()).select_from(Score).join(Outcome, Outcome.lead_id == Score.lead_id)
                                  .where(Score.scored_at < Outcome.closed_at)) > 100
            admin = snapshots.latest(session, "demo", "admin")
            assert admin is not None and len(pd.DataFrame(admin.data["realised"])) > 0
            assert admin.data["calibration"] and admin.data["drift"]["features"]
            assert snapshots.latest(session, "demo", "behaviour").data["closed"] > 1000
    finally:
        runtime.close()

    # Each role logs in and finds its panels filled.
    with TestClient(create_app(fresh_database), raise_server_exceptions=False, follow_redirects=False) as client:
        pages = {"agent": ["/queue"], "manager": ["/team", "/team/behaviour"], "admin": ["/admin"]}
        for role, paths in pages.items():
            assert login(client, f"demo-{role}@example.com", PASSWORD).status_code == 303
            for path in paths:
                page = client.get(path)
                assert page.status_code == 200, path
                assert not [e for e in EMPTY if e in page.text], (role, path)
            if role == "agent":
                lead = re.search(r'href="/leads/(\d+)"', client.get("/queue").text).group(1)
                detail = client.get(f"/leads/{lead}").text
                assert "Converts within 30 / 60 / 90 days" in detail and "Recommended next action" in detail
        admin = client.get("/admin").text
        for chart in ('id="realised-auc"', 'id="calibration"', 'id="drift"', 'id="versions"', 'id="quality"'):
            assert chart in admin, chart
