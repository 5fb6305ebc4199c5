"""Background work in tests: run everything the outbox and the in-process queue hold."""

from __future__ import annotations

from leadscore.core.services import Services


def settle(services: Services, rounds: int = 10) -> None:
    """Dispatch the outbox and wait for the queue, ``rounds`` times: a handler may queue more
    (a rescoring its forecasts and webhooks, a rescoring step the next step)."""
    for _ in range(rounds):
        services.dispatcher.drain()
        services.queue.join()
