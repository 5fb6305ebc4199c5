"""Collects every domain's background-task handlers into one registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadscore.core.services import Services


DOMAINS_WITH_TASKS = ("insights", "integrations", "registry", "scoring", "webhooks")


def register_all(services: Services) -> None:
    # Each domain's tasks module exposes register(services); imported here, not
    # at module level, so importing a domain never drags in all the others.
    import importlib

    for domain in DOMAINS_WITH_TASKS:
        importlib.import_module(f"leadscore.{domain}.tasks").register(services)


def periodic_jobs(services: Services) -> list:
    """Every periodic job the embedded scheduler runs (retraining, drift, webhook retries, dashboard statistics)."""
    from leadscore.insights.tasks import periodic_job as dashboard_snapshots
    from leadscore.integrations.tasks import periodic_job as bulk_recovery
    from leadscore.registry.tasks import periodic_jobs as registry_jobs
    from leadscore.webhooks.tasks import periodic_job as webhook_sweep

    return [*registry_jobs(services), webhook_sweep(services), bulk_recovery(services), dashboard_snapshots(services)]


def make_scheduler(services: Services):  # noqa: ANN201
    from leadscore.core.scheduler import Scheduler

    # Webhook retries are due within seconds, so the scheduler polls often; a poll
    # that finds nothing due is one small read.
    return Scheduler(services.runtime.sessions, periodic_jobs(services), poll_seconds=5.0)
