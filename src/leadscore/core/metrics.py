"""Prometheus metrics: one registry per app, request metrics, and counters any domain bumps.

Exposed at ``GET /metrics`` in the text exposition format. **Open by default**:
Prometheus usually scrapes without credentials, and nothing here is secret
(route *templates*, counts and latencies; no key, lead or path values). Set
``LEADSCORE_METRICS_REQUIRE_KEY=true`` to require an admin key (configure the
scrape job with ``authorization: {credentials: <key>}``). Health endpoints
stay open either way.

Series:

- ``leadscore_http_requests_total{method,route,status}`` and
  ``leadscore_http_request_duration_seconds{method,route}`` (histogram), where
  ``route`` is the route template (``/v1/keys/{key_id}``) or ``<unmatched>``,
  so random paths cannot blow up the label set;
- ``leadscore_scores_computed_total`` and
  ``leadscore_webhook_deliveries_total{outcome}``: bumped by the scoring and
  webhook domains through ``scores_computed(n)`` and ``webhook_delivery(outcome)``;
- ``leadscore_queue_depth``: outbox rows not yet dispatched, counted on scrape
  (through the index on ``(dispatched_at, id)``), parked ones aside;
  ``leadscore_tasks_retrying`` and ``leadscore_tasks_parked``: failed background
  work waiting for a retry, and out of retries (``core.retries``);
- ``leadscore_cache_hits_total``, ``leadscore_cache_misses_total`` and
  ``leadscore_cache_hit_ratio``, read from ``services.cache`` on scrape.

Domain counters are process-wide (a worker without an app counts too) and are
read into each app's registry on scrape, so the default global registry is
never touched and tests can build many apps. As with any Prometheus client,
each process reports its own counters: with several API workers scrape each
one (or run one worker per container).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

UNMATCHED = "<unmatched>"


# -- counters other domains call ------------------------------------------------------------

class _DomainCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.scores = 0
        self.webhooks: Tally[str] = Tally()

    def snapshot(self) -> tuple[int, dict[str, int]]:
        with self._lock:
            return self.scores, dict(self.webhooks)


_domain = _DomainCounters()


def scores_computed(n: int = 1) -> None:
    """Count ``n`` lead scores computed (stateless or stored)."""
    if n > 0:
        with _domain._lock:
            _domain.scores += n


def webhook_delivery(outcome: str, n: int = 1) -> None:
    """Count ``n`` webhook delivery attempts by outcome: ``delivered``, ``failed``, ``retrying``, ``gave_up``..."""
    with _domain._lock:
        _domain.webhooks[outcome[:40]] += n


def domain_counts() -> tuple[int, dict[str, int]]:
    """Scores computed and webhook deliveries by outcome, counted in this process so far."""
    return _domain.snapshot()


# -- the per-app registry ---------------------------------------------------------------------

class _RouteIndex:
    """Route templates and the methods each template answers, built from the app's routes.

    FastAPI 0.16x includes routers lazily: ``scope["route"]`` is the original
    ``APIRoute``, whose own ``path`` lacks the include prefix (``/keys`` for
    ``/v1/keys``). ``iter_route_contexts`` gives the effective template.
    """

    def __init__(self, routes: list[Any]) -> None:
        self.size = len(routes)
        self.templates: dict[int, str] = {}
        self.methods: dict[str, set[str]] = {}
        try:
            from fastapi.routing import iter_route_contexts
        except ImportError:  # older FastAPI copies routes with their prefix: path_format is enough
            return
        for context in iter_route_contexts(routes):
            if context.path_format:
                self.templates.setdefault(id(context.original_route), context.path_format)
                self.methods.setdefault(context.path_format, set()).update(context.methods or ())


def route_index(app: Any) -> _RouteIndex:
    routes = app.router.routes
    index = getattr(app.state, "route_index", None)
    if index is None or index.size != len(routes):
        index = app.state.route_index = _RouteIndex(routes)
    return index


def route_template(scope: Scope) -> str:
    """The matched route's path template, never the raw path (which may hold ids)."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    app = scope.get("app")
    path = route_index(app).templates.get(id(route)) if app is not None else None
    path = path or getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class _ScrapeCollector(Collector):
    """Values computed when Prometheus scrapes: domain counters, queue depth, cache."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        scores, webhooks = _domain.snapshot()
        yield CounterMetricFamily("leadscore_scores_computed", "Lead scores computed.", value=scores)
        deliveries = CounterMetricFamily(
            "leadscore_webhook_deliveries", "Webhook delivery attempts by outcome.", labels=["outcome"]
        )
        for outcome, count in sorted(webhooks.items()):
            deliveries.add_metric([outcome], count)
        yield deliveries
        services = getattr(self.app.state, "services", None)
        if services is None:
            return
        depths = self._queue_depth(services)
        if depths is not None:
            depth, retrying, parked = depths
            yield GaugeMetricFamily("leadscore_queue_depth", "Outbox messages not yet dispatched (parked ones aside).",
                                    value=depth)
            yield GaugeMetricFamily("leadscore_tasks_retrying",
                                    "Failed background work waiting for its next retry.", value=retrying)
            yield GaugeMetricFamily("leadscore_tasks_parked",
                                    "Failed background work out of retries (leadscore tasks failed).", value=parked)
        hits, misses = services.cache.hits, services.cache.misses
        yield CounterMetricFamily("leadscore_cache_hits", "Cache lookups that found a value.", value=hits)
        yield CounterMetricFamily("leadscore_cache_misses", "Cache lookups that found nothing.", value=misses)
        ratio = hits / (hits + misses) if hits + misses else 0.0
        yield GaugeMetricFamily("leadscore_cache_hit_ratio", "Hits / lookups since start (0 before any).", value=ratio)

    @staticmethod
    def _queue_depth(services: Any) -> tuple[int, int, int] | None:
        """(outbox rows not dispatched and not parked, those of them waiting for a retry, parked rows)."""
        from leadscore.core import retries

        try:
            with services.runtime.sessions() as session:
                return retries.queue_counts(session)
        except Exception:  # a scrape must not fail because the database blinked
            log.warning("queue depth unavailable", exc_info=True)
            return None


class Metrics:
    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "leadscore_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadscore_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(_ScrapeCollector(app))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children, looked up once per (method, route, status): ``labels()`` checks
        # and locks on every call, a measurable share of a fast-path request. Routes are
        # templates, so the keys are few.
        children = self._children.get((method, route, status))
        if children is None:
            children = self._children[(method, route, status)] = (
                self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI (no per-request task or body buffering): times and counts every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["method"], route_template(scope), status, time.perf_counter() - start)


def install(app: FastAPI) -> Metrics:
    """Give ``app`` its registry, the request middleware and ``GET /metrics``."""
    metrics = Metrics(app)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics.",
        description="Request rates and latencies, scores computed, queue depth, webhook outcomes and "
        "cache hit ratio in the Prometheus text format. Open unless LEADSCORE_METRICS_REQUIRE_KEY=true, "
        "then an admin key is needed.",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                         "description": "Prometheus text exposition."}},
    )
    async def metrics_endpoint(request: Request) -> Response:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None and runtime.settings.metrics_require_key:
            from leadscore.core.security.auth import authorize

            await authorize(request, "admin")
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
