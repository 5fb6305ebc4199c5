"""Fixtures for the security tests: an app on a fresh database, keys, a real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from leadscore.app import create_app
from leadscore.core.config import Settings, load_settings
from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.security import AdminKey, AnyKey, Principal, ScoreKey, WriteKey, keys, require_scope
from tests.support import databases

REDIS_URL = os.environ.get("LEADSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def probe_router() -> APIRouter:
    """One operation per scope (and one for any key), to test the scope matrix."""
    router = APIRouter(prefix="/probe", tags=["probe"])

    @router.get("/read")
    def read(p: Annotated[Principal, Depends(require_scope("read"))]) -> dict[str, object]:
        return {"key_id": p.key_id}

    @router.post("/write")
    def write(p: WriteKey) -> dict[str, object]:  # the same, spelled with the annotated alias
        return {"key_id": p.key_id}

    @router.post("/score")
    def score(p: ScoreKey) -> dict[str, object]:
        return {"key_id": p.key_id}

    @router.get("/admin")
    def admin(p: AdminKey) -> dict[str, object]:
        return {"key_id": p.key_id}

    @router.get("/any")
    def any_key(p: AnyKey) -> dict[str, object]:
        return {"key_id": p.key_id}

    return router


@pytest.fixture(scope="session")
def security_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for these tests (creating one per test is slow on PostgreSQL).

    The code under test commits, so rows accumulate: every test makes its own
    keys and asserts only about them. Tests that need an empty database use
    ``fresh_database``.
    """
    if backend == "postgresql":
        if not databases.postgres_admin_url():
            pytest.skip(f"PostgreSQL variant needs {databases.PG_ENV}")
        url = databases.create_postgres_database()
    else:
        url = databases.sqlite_url(tmp_path_factory.mktemp("security-db"))
    yield url
    if backend == "postgresql":
        databases.drop_postgres_database(url)


@pytest.fixture
def settings(security_database: str, tmp_path: Path) -> Settings:
    # Usage is flushed by the tests themselves, not by the background thread.
    return load_settings(database_url=security_database, home=tmp_path / "home", usage_flush_seconds=3600,
                         scheduler_enabled=False)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def issue_key(settings: Settings, runtime: Runtime) -> Callable[..., keys.CreatedKey]:
    """Create a key straight in the database: ``issue_key("read", rate_limit="5/minute")``."""

    def issue(*scopes: str, name: str = "test", rate_limit: str | None = None,
              expires_in_days: int | None = None, on: Settings | None = None) -> keys.CreatedKey:
        with session_scope(runtime.sessions) as session:
            return keys.create_key(session, on or settings, name=name, scopes=list(scopes),
                                   rate_limit=rate_limit, expires_in_days=expires_in_days)

    return issue


def build_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(probe_router(), prefix="/v1")
    return app


@contextmanager
def serve(settings: Settings) -> Iterator[TestClient]:
    with TestClient(build_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serve(settings) as client:
        yield client


def bearer(created: keys.CreatedKey | str) -> dict[str, str]:
    key = created if isinstance(created, str) else created.key
    return {"Authorization": f"Bearer {key}"}


class RedisTarget:
    """The test Redis; ``track(prefix)`` marks rate-limit keys to delete after the test."""

    def __init__(self, url: str, connection: object) -> None:
        self.url = url
        self.connection = connection
        self.patterns: list[str] = []

    def track(self, pattern: str) -> None:
        self.patterns.append(pattern)

    def cleanup(self) -> None:
        for pattern in self.patterns:
            found = list(self.connection.scan_iter(match=f"*{pattern}*", count=1000))
            if found:
                self.connection.delete(*found)


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    target = RedisTarget(REDIS_URL, connection)
    yield target
    target.cleanup()
    connection.close()


@pytest.fixture
def namespace() -> str:
    """A key prefix of our own, for limiter tests that do not go through the app."""
    return f"leadscore:ratelimit:test-{uuid.uuid4().hex[:10]}"
