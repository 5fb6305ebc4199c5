"""The FastAPI application: ``create_app()`` wires settings, services and routers."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from leadscore import __version__
from leadscore.core import gc_tuning, metrics, problems, security
from leadscore.core.config import Settings, load_settings
from leadscore.core.deps import RuntimeDep
from leadscore.core.services import Services
from leadscore.web import api as web

# Outbox rows a worker has not dispatched within this many seconds are sent by the API itself.
API_OUTBOX_FALLBACK_SECONDS = 5.0

API_DESCRIPTION = """
Open, explainable lead scoring. Every endpoint except the health checks needs an
API key in the `Authorization: Bearer <key>` header (create one with
`leadscore apikey create`). Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app; pass ``services`` to share already-open connections (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        active = services or Services.open(settings)
        app.state.services = active
        app.state.runtime = active.runtime
        app.state.notify_outbox = active.dispatcher.notify
        if active.settings.broker_url and active.dispatcher.on_postgresql and not active.consumes_in_process:
            # Production: workers LISTEN for outbox commits and dispatch them at once; this process,
            # busy serving requests, only sweeps what nobody sent (see core.dispatcher).
            active.dispatcher.sweep_only_older_than(API_OUTBOX_FALLBACK_SECONDS)
            app.state.notify_outbox = None
        elif active.consumes_in_process:
            active.dispatcher.hand_off_commits()  # each commit queues its follow-up work itself
        active.dispatcher.start()
        guard = security.open_guard(app, active)  # key cache, rate limiter, usage flusher
        from leadscore.scoring.tasks import start_cache_warming

        start_cache_warming(active)
        # Built now, not by the first request: it walks every route's signature (about a second
        # under load), and the first request would hold the event loop for all of it.
        metrics.route_index(app)
        scoring_process = background = None
        if getattr(app.state, "tune_gc", False):  # a serving process, not a test's app
            from leadscore.scoring.model_cache import model_cache

            # Loaded before the first request (whose wave would wait for it), and frozen below
            # with the rest of what startup built.
            model_cache(active).preload(active.runtime.sessions)
            gc_tuning.tune_for_serving()
            if not active.settings.broker_url:  # the real-time path's threads live in this process
                gc_tuning.tune_thread_switching()
                if active.settings.scoring_process:  # and POST /v1/score is scored on the other core
                    from leadscore.scoring.offload import ScoringProcess

                    scoring_process = app.state.scoring_process = ScoringProcess(active.settings)
                    await scoring_process.start()
                if active.settings.background_process and active.consumes_in_process:
                    from leadscore.background_process import BackgroundProcess

                    # The task queue, dispatcher sweep and scheduler then run there (this
                    # process's stay open for the time the helper is starting or gone).
                    background = app.state.background_process = BackgroundProcess(active)
                    await background.start()
        scheduler = None
        # Retraining, drift checks, webhook retries, bulk-job recovery (in the helper, if there is one).
        if active.settings.scheduler_enabled and background is None:
            from leadscore.tasks import make_scheduler

            scheduler = make_scheduler(active)
            scheduler.start()
        try:
            yield
        finally:
            if scoring_process is not None:
                await scoring_process.close()
            if background is not None:
                await background.close()
            if scheduler is not None:
                scheduler.stop()
            guard.close()
            if owned:
                active.close()
            else:
                active.dispatcher.stop()

    settings = settings or (services.settings if services is not None else load_settings())
    app = FastAPI(
        **_telemetry(settings),
        title="leadscore API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    problems.install(app)
    from leadscore.core.write_gate import SQLiteWriteGate
    from leadscore.scoring.fast_read import CachedScoreMiddleware
    from leadscore.scoring.fast_score import StatelessScoreMiddleware

    app.add_middleware(SQLiteWriteGate)  # innermost, behind the fast paths (they never write)
    # Inside security and metrics: they see these answers too.
    app.add_middleware(StatelessScoreMiddleware)
    app.add_middleware(CachedScoreMiddleware)
    security.install(app)  # rate-limit headers, usage counting, error docs in OpenAPI
    metrics.install(app)  # outermost: times everything, serves /metrics
    _health_routes(app)
    from leadscore.routes import domain_routers

    for router in domain_routers():
        app.include_router(router, prefix="/v1")
    web.mount(app)  # the web UI at / (pages, static files, HTML error pages)
    return app


def _telemetry(settings: Settings) -> dict[str, object]:
    """FastAPI's own OpenTelemetry switches (FastAPI 0.16x and later), off unless asked for."""
    if settings.opentelemetry or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_served_app() -> FastAPI:
    """The app as `leadscore serve` runs it: ``create_app`` with the collector tuned for serving.

    Separate from ``create_app`` because tuning is process-wide (``core.gc_tuning``): a test
    process building many apps keeps Python's defaults.
    """
    app = create_app()
    app.state.tune_gc = True
    return app


def _health_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:  # async: no thread hop, so it answers promptly under load
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: database, cache and broker reachable.")
    def readyz(runtime: RuntimeDep) -> dict[str, object]:
        from fastapi.responses import JSONResponse

        active: Services = app.state.services
        checks: dict[str, str] = {}
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # report, do not raise: this endpoint's job is to tell
            checks["database"] = f"error: {type(exc).__name__}"
        checks["cache"] = "ok" if active.cache.ping() else "error: unreachable"
        if runtime.settings.broker_url:
            checks["broker"] = "ok" if _broker_answers(runtime.settings.broker_url) else "error: unreachable"
        else:
            checks["broker"] = "ok (in-process)"
        ready = all(v.startswith("ok") for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)


def _broker_answers(url: str) -> bool:
    import pika

    try:
        parameters = pika.URLParameters(url)
        parameters.socket_timeout = 2
        parameters.blocked_connection_timeout = 2
        pika.BlockingConnection(parameters).close()
        return True
    except Exception:
        return False
