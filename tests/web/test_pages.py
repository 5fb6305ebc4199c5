"""Pages render real numbers; saved views persist per user; bad input is a clear error."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of, login


def test_agent_queue_is_sorted_by_expected_value_with_forecasts(app_client):
    login(app_client, "agent@example.com")
    page = app_client.get("/queue")
    assert page.status_code == 200
    values = [float(v.replace(",", "")) for v in re.findall(r'<td class="num">\$([\d,]+)</td>', page.text)]
    assert len(values) >= 5 and values == sorted(values, reverse=True)
    assert "Forecasts are not available yet" not in page.text
    assert "call" in page.text and "18:00–19:00" in page.text


def test_saved_view_persists_and_validates(app_client, monkeypatch):
    import asyncio

    from leadscore.web import service

    on_loop: list[bool] = []
    save = service.save_view

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return save(*args, **kwargs)

    monkeypatch.setattr(service, "save_view", spy)
    login(app_client, "agent@example.com")
    token = csrf_of(app_client.get("/queue").text)
    response = app_client.post("/queue/view", data={"csrf_token": token, "sort": "newest", "columns": ["score", "source"],
                                                    "status": ["new", "contacted", "qualified"]})
    assert response.status_code == 303
    assert on_loop == [False], "the write runs in a worker thread, never on the event loop"
    page = app_client.get("/queue").text
    assert 'value="newest" selected' in page and "<th>Source</th>" in page and "<th>Why</th>" not in page
    # Another user keeps their own (default) view.
    login(app_client, "manager@example.com")
    assert 'value="expected_value" selected' in app_client.get("/queue").text
    login(app_client, "agent@example.com")
    bad = app_client.post("/queue/view", data={"csrf_token": csrf_of(app_client.get("/queue").text),
                                               "columns": ["password"], "sort": "newest"})
    assert bad.status_code == 422 and "unknown column" in bad.text
    bad_sort = app_client.post("/queue/view", data={"csrf_token": csrf_of(app_client.get("/queue").text),
                                                    "sort": "ssn"})
    assert bad_sort.status_code == 422
    app_client.post("/queue/view", data={"csrf_token": csrf_of(app_client.get("/queue").text)})  # back to defaults


def test_lead_detail_shows_timeline_and_forecast(app_client, world):
    login(app_client, "agent@example.com")
    page = app_client.get(f"/leads/{world.own_lead}").text
    assert "Engagement timeline" in page and "Converts within 30 / 60 / 90 days" in page


def test_manager_page_shows_pipeline_forecast_and_agents(app_client):
    login(app_client, "manager@example.com")
    page = app_client.get("/team").text
    assert 'id="pipeline"' in page and 'id="agents"' in page and 'id="forecast"' in page
    assert "Poisson-binomial" in page
    behaviour = app_client.get("/team/behaviour")
    assert behaviour.status_code == 200 and "Lift" in behaviour.text and "Wilson" in behaviour.text


def test_admin_page_says_what_is_missing_in_plain_words(app_client):
    login(app_client, "admin@example.com")
    page = app_client.get("/admin").text
    assert "No model has been trained for this dataset yet" in page
    assert 'id="quality"' in page and "Leads without a source" in page


def test_bad_query_input_is_a_clear_error_not_a_500(app_client):
    login(app_client, "manager@example.com")
    assert app_client.get("/queue?page=abc").status_code == 422
    assert app_client.get("/leads/notanumber").status_code == 422
    assert app_client.get("/team?dataset=nope").status_code == 200  # unknown dataset falls back


def test_plotly_is_served_locally(app_client):
    response = app_client.get("/ui/static/plotly.min.js")
    assert response.status_code == 200 and len(response.content) > 1_000_000
    assert app_client.get("/ui/static/app.css").status_code == 200


def _snapshot_rows(world):  # noqa: ANN001, ANN202
    from sqlalchemy import select

    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.insights.models import DashboardSnapshot

    runtime = Runtime.open(world.settings)
    try:
        with session_scope(runtime.sessions, write=False) as session:
            return {(r.dataset, r.kind): r for r in session.scalars(select(DashboardSnapshot))}
    finally:
        runtime.close()


def _store(world, kind, data, fingerprint):  # noqa: ANN001, ANN202
    from leadscore.core.database import session_scope
    from leadscore.core.runtime import Runtime
    from leadscore.insights import snapshots

    runtime = Runtime.open(world.settings)
    try:
        with session_scope(runtime.sessions) as session:
            if data is None:
                session.execute(snapshots.DashboardSnapshot.__table__.delete())
            else:
                snapshots.store(session, "demo", kind, data, fingerprint=fingerprint, seconds=1.5)
    finally:
        runtime.close()


def test_behaviour_and_admin_pages_read_the_stored_snapshot_as_of_its_time(app_client, world):
    _store(world, "behaviour", None, [])
    login(app_client, "manager@example.com")
    first = app_client.get("/team/behaviour")
    # No snapshot yet: the page computed one, stored it, and says when.
    stored = _snapshot_rows(world)[("demo", "behaviour")]
    assert first.status_code == 200 and f"As of {stored.computed_at:%Y-%m-%d %H:%M} UTC" in first.text
    assert "Newer data has arrived" not in first.text and stored.data["closed"] > 0
    assert f"{stored.data['closed']:,} closed leads" in first.text

    # The page shows what the job stored (here a recognisable stand-in), not a fresh computation,
    # and says when newer data has arrived since.
    row = {"label": "Sentinel behaviour", "kind": "behaviour", "n_with": 50, "won_with": 25, "n_without": 50,
           "won_without": 5}
    _store(world, "behaviour", {"rows": [row], "closed": 100, "won": 30}, ["an older fingerprint"])
    page = app_client.get("/team/behaviour").text
    assert "Sentinel behaviour" in page and "100 closed leads" in page and "× 5.00" in page
    assert "Newer data has arrived since" in page and "computed in 1.5 s" in page

    login(app_client, "admin@example.com")
    _store(world, "admin", {"realised": [], "calibration": [], "drift": {"features": [], "message": "sentinel reason"},
                            "quality": [{"label": "Sentinel check", "count": 7, "of": 9, "hint": "h"}]},
           ["an older fingerprint"])
    admin = app_client.get("/admin").text
    assert "Sentinel check" in admin and "Drift is not measurable now: sentinel reason" in admin
    assert "Newer data has arrived since" in admin
    _store(world, "admin", None, [])  # back to none: the next page load computes and stores the real one
    admin = app_client.get("/admin").text
    assert "Sentinel" not in admin and "Leads without a source" in admin
    assert ("demo", "admin") in _snapshot_rows(world)
