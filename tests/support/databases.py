"""Throw-away databases for tests: a SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "LEADSCORE_TEST_DATABASE_URL"
# The server every developer machine and CI has; used when the variable is unset.
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/test"


@lru_cache
def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def postgres_admin_url() -> str | None:
    """The configured test server, else the local one if it answers, else None (skip)."""
    url = os.environ.get(PG_ENV) or (LOCAL_PG if _local_server_answers() else None)
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_postgres_database(prefix: str = "leadscore_test") -> str:
    """Create an empty database beside the configured one and return its URL."""
    admin = postgres_admin_url()
    assert admin, f"{PG_ENV} is not set"
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    admin = postgres_admin_url()
    name = make_url(url).database
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def sqlite_url(directory: Path, name: str = "leadscore.db") -> str:
    return f"sqlite:///{directory / name}"
