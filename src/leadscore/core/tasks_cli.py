"""``leadscore tasks``: background work that failed and ran out of retries (``core.retries``)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from leadscore.core.cli import UserError, clean_errors, console, open_runtime
from leadscore.core.database import session_scope

tasks_app = typer.Typer(help="Background work that failed and ran out of retries.", no_args_is_help=True)


@tasks_app.command("failed")
@clean_errors
def failed_command(limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="Rows to show.")) -> None:
    """List parked work, oldest first, with its last error."""
    from leadscore.core import retries

    with open_runtime() as runtime, session_scope(runtime.sessions, write=False) as session:
        rows = retries.parked(session, limit=limit)
        waiting, parked = retries.counts(session)
        table = Table(title=f"parked background work ({parked}; {waiting} more waiting for a retry)")
        for column in ("id", "topic", "payload", "retries", "parked at", "last error"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(str(row.id), row.topic, json.dumps(row.payload, default=str)[:200], str(row.retry),
                          row.failed_at.isoformat(timespec="seconds") if row.failed_at else "", row.last_error or "")
        console.print(table)


@tasks_app.command("retry")
@clean_errors
def retry_command(
    ids: list[int] = typer.Argument(None, help="Outbox row ids from `leadscore tasks failed`."),
    all_rows: bool = typer.Option(False, "--all", help="Every parked row."),
) -> None:
    """Queue parked work again now, with its retries counted afresh (a running worker or server takes it)."""
    from leadscore.core import retries

    if bool(ids) == all_rows:
        raise UserError("name the row ids to retry, or pass --all (not both)")
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        count = retries.replay(session, None if all_rows else ids)
    if ids and count < len(set(ids)):
        console.print(f"queued {count} of {len(set(ids))}: the others are not parked rows")
    else:
        console.print(f"queued {count} parked task(s) again")
