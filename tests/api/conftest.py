"""The real app over a fresh database with one API key per scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from leadscore.app import create_app
from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.security import keys


@dataclass
class Api:
    client: TestClient
    admin: dict[str, str]
    read: dict[str, str]
    write: dict[str, str]
    score: dict[str, str]


@pytest.fixture
def api(fresh_database) -> Iterator[Api]:
    # No embedded scheduler: its sweeps would race the tests' own pumping.
    settings = fresh_database.model_copy(update={"webhook_backoff_base_seconds": 0.01, "scheduler_enabled": False})
    runtime = Runtime.open(settings)
    headers = {}
    with session_scope(runtime.sessions) as session:
        for scope in ("admin", "read", "write", "score"):
            key = keys.create_key(session, settings, name=scope, scopes=[scope]).key
            headers[scope] = {"Authorization": f"Bearer {key}"}
    runtime.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, **headers)
