"""FastAPI dependencies: settings, runtime and the request's unit of work.

The request owns its transaction: ``get_session`` commits after the path
function returns and before the response is sent (``scope="function"``), so
a failed commit becomes an error response instead of a silently lost write.
Work the request queued in the outbox is dispatched right after the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from leadscore.core.config import Settings
from leadscore.core.database import begin_write
from leadscore.core.routes import REQUEST_SESSION, hand_to_thread, roll_back_and_close
from leadscore.core.runtime import Runtime

if TYPE_CHECKING:
    from leadscore.core.services import Services


# The trivial providers are ``async def`` on purpose: FastAPI runs a plain ``def``
# dependency in the thread pool, a hop that cost more than the whole cached
# score lookup under load.
async def get_runtime(request: Request) -> Runtime:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:  # the lifespan did not run: a wiring bug, say so loudly
        raise RuntimeError("application runtime is not initialised (lifespan not run)")
    return runtime


async def get_services(request: Request):  # noqa: ANN201
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise RuntimeError("application services are not initialised (lifespan not run)")
    return services


async def get_settings(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Settings:
    return runtime.settings


async def get_session(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> AsyncIterator[Session]:
    # ``async``: making a session does no I/O, and a plain-def endpoint commits and closes it in
    # its own thread hop (core.routes says why), so the teardown usually has nothing to do; when
    # it has (an ``async`` endpoint used the session), the commit runs in a thread.
    session = runtime.sessions()
    session.info[REQUEST_SESSION] = True
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        begin_write(session)
    try:
        yield session
        wrote_outbox = bool(session.info.pop("outbox_written", False))
        if session.in_transaction():
            await hand_to_thread(_commit_and_close, session)
    except BaseException:
        if session.in_transaction():
            await hand_to_thread(roll_back_and_close, session)
        raise
    finally:
        session.close()  # closed already, or never used: no I/O
    notify = getattr(request.app.state, "notify_outbox", None)
    if wrote_outbox and notify is not None:
        notify()


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServicesDep = Annotated["Services", Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
