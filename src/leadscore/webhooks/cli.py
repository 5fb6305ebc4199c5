"""``leadscore webhook``: inspect subscriptions and push due deliveries by hand."""

from __future__ import annotations

import typer
from rich.table import Table

from leadscore.core.cli import clean_errors, console, open_runtime
from leadscore.core.config import load_settings
from leadscore.core.database import session_scope

webhook_app = typer.Typer(help="Webhook subscriptions and deliveries.", no_args_is_help=True)


@webhook_app.command("list")
@clean_errors
def list_command() -> None:
    """List subscriptions with their state and failure count."""
    from leadscore.webhooks import service

    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        table = Table(title="webhook subscriptions")
        for column in ("id", "url", "events", "active", "failures", "disabled reason"):
            table.add_column(column, overflow="fold")
        for sub in service.list_subscriptions(session):
            table.add_row(str(sub.id), sub.url, ", ".join(sub.event_types), "yes" if sub.active else "no",
                          str(sub.consecutive_failures), sub.disabled_reason or "")
        console.print(table)


@webhook_app.command("flush")
@clean_errors
def flush_command() -> None:
    """Send pending and due deliveries now, in this process, and wait for them."""
    from leadscore.core.services import Services
    from leadscore.webhooks.tasks import deliver_due

    services = Services.open(load_settings(), consume_in_process=True)
    try:
        total = 0
        while True:
            queued = deliver_due(services)
            sent = services.dispatcher.drain()
            services.queue.join()  # type: ignore[attr-defined]
            total += queued
            if not queued and not sent:
                break
        console.print(f"queued {total} due webhook deliveries")
    finally:
        services.close()
