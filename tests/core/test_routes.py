"""TransactionRoute: a plain-def endpoint's request session commits as the endpoint returns, in its thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
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



class Message(BaseModel):
    id: int
    topic: str
    thread: int


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_sync_endpoint_runs_commits_and_reads_its_response_in_one_thread_hop(fresh_database, monkeypatch):
    import threading

    import anyio.to_thread

    from leadscore.core import routes

    runtime = Runtime.open(fresh_database)
    hops: list[str] = []

    def counting(real):  # noqa: ANN001, ANN202 - every way into a thread: FastAPI's (anyio) and ours
        async def hop(func, *args, **kwargs):  # noqa: ANN001, ANN202
            hops.append(getattr(getattr(func, "func", func), "__qualname__", repr(func)))
            return await real(func, *args, **kwargs)
        return hop

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting(anyio.to_thread.run_sync))
    monkeypatch.setattr(routes, "hand_to_thread", counting(routes.hand_to_thread))
    api = router()
    validated_in: list[int] = []

    class Stored:  # what an endpoint returns from the ORM: attributes read to build the response
        def __init__(self, row: OutboxMessage) -> None:
            self.id, self.topic = row.id, row.topic

        @property
        def thread(self) -> int:
            validated_in.append(threading.get_ident())
            return threading.get_ident()

    @api.post("/messages", status_code=201)
    def create(session: SessionDep) -> Message:
        row = outbox.enqueue(session, "test.hop", {"n": 1})
        session.flush()
        return Stored(row)

    @api.get("/broken")
    def broken(session: SessionDep) -> Message:
        return {"id": "not a number", "topic": "x", "thread": 0}

    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(api)
    try:
        with TestClient(app) as client:
            hops.clear()
            response = client.post("/messages")
            assert response.status_code == 201 and response.json()["topic"] == "test.hop"
            assert hops == ["_run"], "endpoint, commit and response validation: one hop"
            assert validated_in and validated_in[0] != threading.get_ident()  # read in the worker thread
            with pytest.raises(Exception, match="validation error"):  # FastAPI's response validation error, as before
                client.get("/broken")
        with session_scope(runtime.sessions, write=False) as session:
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    finally:
        runtime.close()


def test_the_hop_hands_the_call_to_a_thread_without_yielding_to_the_event_loop_first(monkeypatch):
    """anyio's hop yields twice before handing over; under load each yield is a whole loop
    iteration. Ours submits at once: a callback already waiting on the loop has not run yet."""
    import asyncio
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from leadscore.core import routes

    ran: list[str] = []
    seen_at_submit: list[list[str]] = []
    request_id = contextvars.ContextVar("request_id", default="none")

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            seen_at_submit.append(list(ran))
            return super().submit(fn, *args, **kwargs)

    pool = Recording(max_workers=1)
    monkeypatch.setattr(routes, "_thread_pool", lambda: pool)

    async def main() -> str:
        request_id.set("r-7")
        asyncio.get_running_loop().call_soon(ran.append, "waiting callback")
        return await routes.hand_to_thread(lambda suffix: request_id.get() + suffix, "!")

    try:
        assert asyncio.run(main()) == "r-7!"  # the task's context variables reach the thread
    finally:
        pool.shutdown()
    assert seen_at_submit == [[]] and ran == ["waiting callback"]
