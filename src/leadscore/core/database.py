"""Engine, sessions and the declarative base shared by every domain.

The same models and migrations run on SQLite (embedded default) and
PostgreSQL. Only the request or job that owns a unit of work commits: use
``session_scope`` (jobs, CLI) or the FastAPI dependency (requests); services
receive a session and at most ``flush``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from leadscore.core.config import ConfigError, Settings, mask_url
from leadscore.core.write_lock import WriteLock
from leadscore.core.sealed import SecretBox, attach_box

# Named constraints let Alembic's batch mode on SQLite drop and alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zones, so values are stored naive in UTC and given
    their zone back on load; aware values in other zones are converted.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


WRITE = {"sqlite_immediate": True}
_READ_BIND = "leadscore.read_bind"  # session.info key: the bind ``begin_write`` replaced


def _sqlite_begin(lock: WriteLock, connection: Any) -> None:
    # A deferred transaction that reads and then writes fails with "database is
    # locked" if another connection committed in between (WAL snapshots cannot
    # be upgraded; busy_timeout does not help). Transactions that will write
    # therefore begin IMMEDIATE and queue for the write lock up front (first in
    # this process's queue, core.write_lock says why); reads stay deferred so
    # they never wait on writers.
    if not connection.get_execution_options().get("sqlite_immediate", False):
        connection.exec_driver_sql("BEGIN")
        return
    lock.acquire(connection)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        lock.release(connection)
        raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while an import or the scorer writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _pepper(settings: Settings) -> bytes:
    from leadscore.core.security.keys import resolve_pepper  # it imports this module

    return resolve_pepper(settings)


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        if settings.database_url is None:
            settings.home.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        # A SQLite connection is a file handle: keep one per threadpool thread (40) instead of
        # opening and closing overflow connections (and re-running the pragmas) under load.
        kwargs.setdefault("pool_size", 40)
        kwargs.setdefault("max_overflow", 10)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    # As many connections as the API's threadpool has threads (40), so a burst of requests
    # waits on the database, not on the pool (the default 5 + 10 timed out under load).
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 30)
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"LEADSCORE_DATABASE_URL={mask_url(url)}: {exc}") from None
    attach_box(engine, SecretBox(functools.partial(_pepper, settings)))  # for SealedString columns
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINTs (used by nested
        # transactions and the per-test rollback); let SQLAlchemy emit BEGIN.
        lock = WriteLock()
        event.listen(engine, "begin", functools.partial(_sqlite_begin, lock))
        event.listen(engine, "commit", lock.release)
        event.listen(engine, "rollback", lock.release)
    return engine


def check_connection(engine: Engine) -> None:
    """Fail with one clear line if the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(
            f"LEADSCORE_DATABASE_URL={mask_url(engine.url.render_as_string(hide_password=False))}: "
            f"cannot connect ({reason})"
        ) from None


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Mark the session's transactions as ones that will write.

    On SQLite each begins IMMEDIATE (takes the write lock) at its first statement, not
    here: an API write request creates its session in one thread-pool hop and first uses
    it in the next, and holding the lock across that wait (an event-loop iteration, tens
    of milliseconds under load) kept the real-time path waiting for it.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine):  # a session on a test's open connection has begun already
        session.info[_READ_BIND] = bind
        session.bind = bind.execution_options(**WRITE)


def end_write(session: Session) -> None:
    """Undo ``begin_write`` for the session's next transactions: they only read (no write lock)."""
    read_bind = session.info.pop(_READ_BIND, None)
    if read_bind is not None:
        session.bind = read_bind


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """The unit of work of a job or command: commit on success, else roll back.

    ``write=False`` for read-only work, so SQLite does not make it queue for the
    write lock.
    """
    session = factory()
    if write:
        begin_write(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
