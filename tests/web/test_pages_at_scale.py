"""Every page renders with real data at 50,000 leads and ~1M interactions.

Builds the full-size demo world (about a minute), so it is marked slow; it still runs in CI.
How fast the pages are is measured by ``benchmarks/run_pages.py``, not asserted here.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from leadscore.app import create_app
from leadscore.core.config import load_settings
from leadscore.core.runtime import Runtime
from leadscore.insights import tasks
from tests.web.conftest import login, seed

pytestmark = pytest.mark.slow


def _count(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not on the page"
    return int(match.group(1).replace(",", ""))


def test_pages_render_with_data_at_50k_leads(tmp_path):
    settings = load_settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'big.db'}", scheduler_enabled=False)
    world = seed(settings, n_leads=50_000)
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as client:
        login(client, "agent@example.com")
        queue = client.get("/queue")
        assert queue.status_code == 200 and len(re.findall(r'href="/leads/\d+"', queue.text)) >= 20
        assert "Forecasts are not available yet" not in queue.text
        lead = client.get(f"/leads/{world.own_lead}")
        assert lead.status_code == 200 and "Engagement timeline" in lead.text

        login(client, "manager@example.com")
        team = client.get("/team")
        assert team.status_code == 200 and team.text.count("<tr>") > 30  # about 40 agents
        # No snapshot yet: the first load computes the analysis over every closed lead and stores it.
        behaviour = client.get("/team/behaviour")
        assert behaviour.status_code == 200 and "As of" in behaviour.text
        assert _count(r"([\d,]+) closed leads", behaviour.text) > 30_000
        assert behaviour.text.count("clearly more likely to convert") >= 2

        # The background job stores the admin statistics; the page reads them.
        runtime = Runtime.open(settings)
        try:
            assert "demo/admin" in tasks.refresh_snapshots(runtime.sessions)
        finally:
            runtime.close()
        login(client, "admin@example.com")
        admin = client.get("/admin")
        assert admin.status_code == 200 and "As of" in admin.text and "Newer data has arrived" not in admin.text
        assert "of 50,000" in admin.text and "Leads without a source" in admin.text
