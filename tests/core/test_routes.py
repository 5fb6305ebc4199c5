"""TransactionRoute: a plain-def endpoint's request session commits as the endpoint returns, in its thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadscore.core import outbox
from leadscore.core.database import session_scope
from leadscore.core.deps import SessionDep
from leadscore.core.outbox import OutboxMessage
from leadscore.core.routes import router
from leadscore.core.runtime import Runtime


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_sync_endpoint_commits_in_its_own_thread_and_a_failing_one_rolls_back(fresh_database):
    runtime = Runtime.open(fresh_database)
    seen: dict[str, object] = {}

    def after_endpoint(session: SessionDep) -> Iterator[None]:
        # Torn down after the endpoint and before the session dependency: what would be left to commit.
        yield
        seen["open_after_endpoint"] = session.in_transaction()

    api = router()

    @api.post("/write/{n}", dependencies=[Depends(after_endpoint, scope="function")])
    def write(n: int, session: SessionDep) -> dict:
        outbox.enqueue(session, "test.write", {"n": n})
        session.flush()
        if n < 0:
            raise ValueError("refused")
        return {"n": n}

    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(api)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/write/1").json() == {"n": 1}
            assert seen["open_after_endpoint"] is False  # committed already, in the endpoint's thread
            assert client.post("/write/-1").status_code == 500
        with session_scope(runtime.sessions, write=False) as session:
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    finally:
        runtime.close()

