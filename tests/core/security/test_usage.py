"""Per-key usage: counted in memory, flushed in batches, readable at once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from leadscore.core.database import session_scope
from leadscore.core.security.models import ApiKey, ApiKeyUsage
from leadscore.core.security.usage import UsageRecorder, status_class
from tests.core.security.conftest import bearer


def _entries(report: dict) -> Counter:
    return Counter({(e["route"], e["status_class"]): e["requests"] for e in report["entries"]})


def test_usage_is_readable_immediately_and_after_a_flush(client, issue_key, runtime):
    key, admin = issue_key("read"), issue_key("admin")
    for _ in range(3):
        assert client.get("/v1/probe/read", headers=bearer(key)).status_code == 200
    assert client.get("/v1/probe/admin", headers=bearer(key)).status_code == 403
    client.get("/v1/keys/me", headers=bearer(key))

    first = client.get("/v1/keys/me/usage", headers=bearer(key)).json()
    today = datetime.now(UTC).date().isoformat()
    assert {e["day"] for e in first["entries"]} == {today}
    assert _entries(first) == Counter({
        ("GET /v1/probe/read", "2xx"): 3, ("GET /v1/probe/admin", "4xx"): 1, ("GET /v1/keys/me", "2xx"): 1,
    })
    assert first["total"] == 5 and first["key_id"] == key.row.id

    # Nothing was written per request; one flush writes it all, and reads do not double count.
    with session_scope(runtime.sessions) as session:
        assert session.scalars(select(ApiKeyUsage).where(ApiKeyUsage.key_id == key.row.id)).all() == []
    assert client.app.state.security.usage.flush() > 0
    with session_scope(runtime.sessions) as session:
        stored = {(u.route, u.status_class): u.requests for u in session.scalars(
            select(ApiKeyUsage).where(ApiKeyUsage.key_id == key.row.id))}
        assert stored[("GET /v1/probe/read", "2xx")] == 3
        assert session.get(ApiKey, key.row.id).last_used_at is not None
    second = client.get(f"/v1/keys/{key.row.id}/usage", headers=bearer(admin)).json()
    # The first usage read itself now counts too.
    assert _entries(second) == _entries(first) + Counter({("GET /v1/keys/me/usage", "2xx"): 1})


def test_flushes_add_to_stored_counts(runtime, issue_key):
    key = issue_key("read")
    for recorder_count in (2, 5):
        recorder = UsageRecorder(runtime.sessions)
        for _ in range(recorder_count):
            recorder.record(key.row.id, "GET /v1/leads", 200)
        recorder.record(key.row.id, "GET /v1/leads", 503)
        recorder.flush()
    with session_scope(runtime.sessions) as session:
        reader = UsageRecorder(runtime.sessions)
        reader.record(key.row.id, "GET /v1/leads", 200)  # pending, not yet flushed
        by_day = reader.read(session, key.row.id)
    (counts,) = by_day.values()
    assert counts == Counter({("GET /v1/leads", "2xx"): 8, ("GET /v1/leads", "5xx"): 2})


def _database_down():
    raise RuntimeError("database down")


def test_a_failed_flush_keeps_the_counts(runtime, issue_key):
    key = issue_key("read")
    recorder = UsageRecorder(runtime.sessions)
    recorder.record(key.row.id, "GET /v1/x", 200)
    recorder.sessions = _database_down
    with pytest.raises(RuntimeError):
        recorder.flush()
    assert sum(recorder.pending(key.row.id).values()) == 1
    recorder.sessions = runtime.sessions
    assert recorder.flush() == 1
    assert recorder.pending(key.row.id) == Counter()


def test_usage_of_other_keys_needs_admin(client, issue_key):
    reader, other = issue_key("write"), issue_key("read")
    assert client.get(f"/v1/keys/{other.row.id}/usage", headers=bearer(reader)).status_code == 403
    missing = client.get("/v1/keys/424242/usage", headers=bearer(issue_key("admin")))
    assert missing.status_code == 404


def test_status_classes():
    statuses = (101, 200, 302, 404, 429, 500, 999)
    assert [status_class(s) for s in statuses] == ["1xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]


def test_requests_count_on_the_utc_day_they_happen(runtime, monkeypatch):
    recorder = UsageRecorder(runtime.sessions)
    midnight = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    for at in (midnight - 0.5, midnight - 0.001, midnight, midnight + 86399.9, midnight + 86400):
        monkeypatch.setattr("leadscore.core.security.usage.time.time", lambda at=at: at)
        recorder.record(7, "GET /v1/x", 200)
    days = Counter({day.isoformat(): n for (_, day, _, _), n in recorder.pending(7).items()})
    assert days == Counter({"2026-11-27": 2, "2026-11-28": 2, "2026-11-29": 1})
