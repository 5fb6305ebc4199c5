"""SQLite's write lock, queued in-process: held from the first statement to commit or rollback, background first."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from leadscore.core.database import begin_write, session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.write_lock import WriteLock, background_writer


def _lock(runtime: Runtime) -> WriteLock:
    return next(listener.__self__ for listener in runtime.engine.dispatch.commit)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL has many writers: no lock
def test_a_write_transaction_holds_the_lock_from_its_first_statement_until_it_ends(fresh_database):
    runtime = Runtime.open(fresh_database)
    try:
        lock = _lock(runtime)
        session = runtime.sessions()
        begin_write(session)
        assert not lock._held  # not yet: the session has not run anything
        session.execute(text("SELECT 1"))
        assert lock._held
        session.rollback()
        assert not lock._held
        with session_scope(runtime.sessions, write=False) as reader:
            reader.execute(text("SELECT 1"))
            assert not lock._held  # reads never queue
        with session_scope(runtime.sessions) as writer:
            writer.execute(text("SELECT 1"))
            assert lock._held
        assert not lock._held
        session.close()
    finally:
        runtime.close()


class _Connection:
    def __init__(self) -> None:
        self.info: dict = {}


def test_background_writers_go_before_request_threads():
    lock = WriteLock()
    holder = _Connection()
    lock.acquire(holder)
    order: list[str] = []

    def wait(name: str, background: bool) -> None:
        if background:
            background_writer()
        connection = _Connection()
        lock.acquire(connection)
        order.append(name)
        lock.release(connection)

    request = threading.Thread(target=wait, args=("request", False))
    request.start()
    time.sleep(0.1)  # the request thread waits first
    task = threading.Thread(target=wait, args=("task", True))
    task.start()
    time.sleep(0.1)
    lock.release(holder)
    request.join(5)
    task.join(5)
    assert order == ["task", "request"]
    lock.release(_Connection())  # a connection that holds nothing releases nothing
    assert not lock._held
