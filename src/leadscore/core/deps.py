"""FastAPI dependencies: settings, runtime and the request's unit of work.

The request owns its transaction: ``get_session`` commits after the path
function returns and before the response is sent (``scope="function"``), so
a failed commit becomes an error response instead of a silently lost write.
Work the request queued in the outbox is dispatched right after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from leadscore.core.config import Settings
from leadscore.core.database import begin_write
from leadscore.core.routes import REQUEST_SESSION
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


def get_session(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    session = runtime.sessions()
    # A plain-def endpoint commits this session itself as it returns (core.routes says why).
    session.info[REQUEST_SESSION] = True
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        begin_write(session)
    try:
        yield session
        wrote_outbox = bool(session.info.pop("outbox_written", False))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    notify = getattr(request.app.state, "notify_outbox", None)
    if wrote_outbox and notify is not None:
        notify()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServicesDep = Annotated["Services", Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
