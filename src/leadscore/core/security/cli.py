"""``leadscore apikey``: create, list and revoke API keys from the command line.

The first admin key can only come from here (the API needs a key to make one).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from leadscore.core.cli import UserError, clean_errors, console, err_console, open_runtime
from leadscore.core.database import session_scope
from leadscore.core.security import keys
from leadscore.core.security.scopes import SCOPE_NAMES, parse_scopes

apikey_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


@apikey_app.command("create")
@clean_errors
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[list[str], typer.Option(
        "--scope", help=f"Repeat for several: {', '.join(SCOPE_NAMES)}. admin implies all, write implies read.",
    )],
    rate: Annotated[str | None, typer.Option(
        "--rate", help="Per-key rate, e.g. 600/minute (default LEADSCORE_RATE_LIMIT).",
    )] = None,
    expires_days: Annotated[int | None, typer.Option(
        "--expires-days", help="Days until the key stops working.",
    )] = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    try:
        scopes = [s.value for s in parse_scopes(scope)]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        created = keys.create_key(
            session, runtime.settings, name=name, scopes=scopes, rate_limit=rate,
            expires_in_days=expires_days, created_by="cli",
        )
        key_id = created.row.id
    err_console.print(
        f"[bold yellow]Created key {key_id} ({name}; {', '.join(scopes)}). Copy it now: "
        "it cannot be shown again.[/]"
    )
    # The key alone on stdout, so `KEY=$(leadscore apikey create ...)` works.
    console.print(created.key, highlight=False, soft_wrap=True)


@apikey_app.command("list")
@clean_errors
def list_(
    include_revoked: Annotated[bool, typer.Option("--all/--active", help="Include revoked keys.")] = True,
) -> None:
    """List keys (never their secrets)."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        rows = keys.list_keys(session, include_revoked=include_revoked)
        table = Table(title="API keys")
        for column in ("id", "prefix", "name", "scopes", "rate", "status", "created", "last used", "expires"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                str(row.id), row.prefix, row.name, ",".join(row.scopes), row.rate_limit or "default",
                keys.key_status(row), f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
                f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "never",
            )
    console.print(table)


@apikey_app.command("revoke")
@clean_errors
def revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `leadscore apikey list`).")]) -> None:
    """Revoke a key; running servers stop accepting it within LEADSCORE_KEY_CACHE_SECONDS."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        row = keys.revoke_key(session, key_id, actor="cli")
        console.print(f"revoked key {row.id} ({row.prefix}, {row.name})")
