"""On SQLite at most a few write requests reach the thread pool at once; reads and PostgreSQL pass freely."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from leadscore.core.write_gate import SQLiteWriteGate


def _scope(method: str, dialect: str) -> dict:
    engine = SimpleNamespace(dialect=SimpleNamespace(name=dialect))
    app = SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(engine=engine)))
    return {"type": "http", "method": method, "path": "/v1/interactions", "app": app}


async def _peak(method: str, dialect: str, requests: int = 20, limit: int = 4) -> int:
    inside = peak = 0

    async def app(scope, receive, send):
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.01)
        inside -= 1

    gate = SQLiteWriteGate(app, limit=limit)
    await asyncio.gather(*(gate(_scope(method, dialect), None, None) for _ in range(requests)))
    return peak


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "PUT"])
def test_writes_on_sqlite_are_limited(method):
    assert asyncio.run(_peak(method, "sqlite")) == 4


@pytest.mark.parametrize(("method", "dialect"), [("GET", "sqlite"), ("HEAD", "sqlite"), ("POST", "postgresql")])
def test_reads_and_postgresql_are_not_gated(method, dialect):
    assert asyncio.run(_peak(method, dialect)) == 20
