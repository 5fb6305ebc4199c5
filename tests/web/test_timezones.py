"""The dashboard shows times in LEADSCORE_TIMEZONE (stored times are UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from jinja2 import Environment

from leadscore.app import create_app
from leadscore.core.config import ConfigError, load_settings
from leadscore.web.timezones import local_hour, local_time
from tests.web.conftest import login


def _render(source: str, zone: str, **values) -> str:
    env = Environment()
    env.filters.update(local=local_time, local_hour=local_hour)
    return env.from_string(source).render(zone=ZoneInfo(zone), **values)


@pytest.mark.parametrize(("zone", "on", "expected"), [
    ("UTC", date(2026, 1, 15), "18:00–19:00 UTC"),
    ("America/Los_Angeles", date(2026, 1, 15), "10:00–11:00 PST"),
    ("America/Los_Angeles", date(2026, 7, 15), "11:00–12:00 PDT"),  # daylight saving time
    ("Asia/Kolkata", date(2026, 1, 15), "23:30–00:30 IST"),  # half-hour offset, past midnight
])
def test_a_utc_hour_is_shown_as_the_local_slot(zone, on, expected):
    assert _render("{{ 18|local_hour(on) }}", zone, on=on) == expected


def test_stored_times_naive_or_aware_are_shown_in_the_zone():
    naive_utc = datetime(2026, 3, 1, 17, 5)  # as SQLite gives it back
    assert _render("{{ d|local }}", "Europe/Berlin", d=naive_utc) == "2026-03-01 18:05 CET"
    assert _render("{{ d|local }}", "Europe/Berlin", d=naive_utc.replace(tzinfo=UTC)) == "2026-03-01 18:05 CET"
    assert _render('{{ d|local("%m-%d", false) }}', "Pacific/Auckland", d=naive_utc) == "03-02"
    assert _render("{{ d|local }}", "UTC", d=None) == ""


def test_an_unknown_zone_is_a_clear_configuration_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match="LEADSCORE_TIMEZONE='Mars/Olympus_Mons' is not a known time zone"):
        load_settings(home=tmp_path)


def test_the_lead_page_shows_the_best_hour_in_the_configured_zone(world):
    settings = world.settings.model_copy(update={"timezone": "America/Los_Angeles"})
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as client:
        login(client, "agent@example.com")
        page = client.get(f"/leads/{world.own_lead}").text
    start = datetime.combine(datetime.now(UTC).date(), datetime.min.time().replace(hour=18), UTC)
    local = start.astimezone(ZoneInfo("America/Los_Angeles"))
    assert f"{local:%H}:00–{(local.hour + 1) % 24:02d}:00 {local.tzname()}" in page  # stored: 18 UTC
    assert "18:00–19:00" not in page
