from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator

import pytest

from leadscore.core.config import Settings
from leadscore.core.services import Services
from leadscore.webhooks import service
from leadscore.webhooks.tasks import deliver_due
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def fast_settings(settings: Settings, **overrides: object) -> Settings:
    values = {
        "webhook_timeout_seconds": 5.0,
        "webhook_backoff_base_seconds": 0.01,
        "webhook_backoff_max_seconds": 1.0,
        "webhook_max_attempts": 4,
        "webhook_disable_after": 10,
        "scheduler_enabled": False,  # the tests pump deliveries themselves
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@pytest.fixture
def open_services(fresh_database: Settings) -> Iterator[Callable[..., Services]]:
    """Open Services (handlers in this process) on a fresh database; closed at teardown."""
    opened: list[Services] = []

    def open_(**overrides: object) -> Services:
        services = Services.open(fast_settings(fresh_database, **overrides), consume_in_process=True)
        opened.append(services)
        return services

    yield open_
    for services in opened:
        services.close()


def pump(services: Services, until: Callable[[], bool] | None = None, *, timeout: float = 10.0) -> None:
    """Run the sweep, the outbox dispatcher and the task queue until idle (or ``until`` holds)."""
    deadline = time.monotonic() + timeout
    while True:
        queued = deliver_due(services)
        sent = services.dispatcher.drain()
        services.queue.join()  # type: ignore[attr-defined]
        if until is not None and until():
            return
        if until is None and not queued and not sent:
            return
        if time.monotonic() > deadline:
            raise AssertionError("webhook deliveries did not settle in time")
        if not queued and not sent:
            time.sleep(0.02)  # a retry is scheduled a moment ahead


LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)  # where the test receivers listen


def subscribe(session, url: str, events: list[str] | None = None, **kwargs):
    return service.create(session, url=url, event_types=events or ["*"], actor="test",
                          **{"allowed": LOOPBACK, **kwargs})
