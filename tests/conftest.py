"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is used when LEADSCORE_TEST_DATABASE_URL is set (``.ci/run`` sets
it to the local server); without it those variants are skipped, visibly.
Each test gets a session inside an outer transaction that is rolled back,
so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from leadscore.core import migrate
from leadscore.core.config import Settings, load_settings
from leadscore.core.database import make_engine
from leadscore.core.services import Services
from tests.support import databases, trained
from tests.support.factories import bind_factories

# The tests' webhook receivers listen on loopback, which deliveries refuse by default
# (webhooks.targets); servers and workers the tests start inherit this too.
os.environ.setdefault("LEADSCORE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")

BACKENDS = ["sqlite", "postgresql"]
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _new_database(backend: str, directory: Path) -> str:
    if backend == "postgresql":
        if not databases.postgres_admin_url():
            pytest.skip(f"PostgreSQL variant needs {databases.PG_ENV}")
        return databases.create_postgres_database()
    return databases.sqlite_url(directory)


def _drop_database(backend: str, url: str) -> None:
    if backend == "postgresql":
        databases.drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database per backend for the whole run (migrations are tested here too)."""
    url = _new_database(backend, tmp_path_factory.mktemp("db"))
    settings = load_settings(database_url=url, home=tmp_path_factory.mktemp("home"))
    engine = make_engine(settings)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    _drop_database(backend, url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    connection = engine.connect()
    outer = connection.begin()
    # Code under test may commit or roll back; with savepoints the outer
    # transaction still holds everything and is rolled back at teardown.
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    bind_factories(db)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a brand-new empty database, for commands that commit for real."""
    url = _new_database(backend, tmp_path)
    try:
        yield load_settings(database_url=url, home=tmp_path / "home")
    finally:
        _drop_database(backend, url)


@pytest.fixture
def services(fresh_database: Settings) -> Iterator[Services]:
    """The app's services (in-process queue and cache) on ``fresh_database``; ``tests.support.work.settle``
    runs the background work they hold."""
    active = Services.open(fresh_database)
    yield active
    active.close()


@pytest.fixture
def cli_env(fresh_database: Settings) -> dict[str, str]:
    """Environment for running the CLI against ``fresh_database``."""
    return {
        "LEADSCORE_DATABASE_URL": fresh_database.effective_database_url,
        "LEADSCORE_HOME": str(fresh_database.home),
    }


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_model(tmp_path_factory: pytest.TempPathFactory, worker_id: str):
    """The conversion model trained on ``tests.support.trained.synthetic_data()``: once per run, whatever the
    number of pytest-xdist workers (``tests.support.trained``)."""
    return trained.shared_model(tmp_path_factory, worker_id)
