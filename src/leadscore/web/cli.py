"""``leadscore user``: create, list, disable and enable web UI logins."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from leadscore.core.cli import UserError, clean_errors, console, open_runtime
from leadscore.core.database import session_scope
from leadscore.web import service

user_app = typer.Typer(help="People who log in to the web UI (agents, managers, admins).", no_args_is_help=True)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise UserError("no password given")
    return password


@user_app.command("create")
@clean_errors
def create(
    email: str = typer.Option(..., "--email", help="Login e-mail (unique)."),
    name: str = typer.Option(..., "--name", help="Display name."),
    role: str = typer.Option(..., "--role", help="agent, manager or admin."),
    agent_id: int | None = typer.Option(None, "--agent-id", help="The agents row an agent login belongs to."),
    agent_external_id: str | None = typer.Option(None, "--agent-external-id", help="Or that agent's external id."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Create a login; the password is asked for (or read from stdin), never passed as an argument."""
    password = _read_password(password_stdin)
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        try:
            linked = service.resolve_agent(session, agent_id=agent_id, agent_external_id=agent_external_id)
            user = service.create_user(session, email=email, name=name, role=role, password=password,
                                       agent_id=linked)
        except service.UserError as exc:
            raise UserError(str(exc)) from None
        summary = f"created {user.role} {user.email} (id {user.id}" + (f", agent {linked})" if linked else ")")
    console.print(summary)


@user_app.command("list")
@clean_errors
def list_command() -> None:
    """List logins."""
    with open_runtime() as runtime, session_scope(runtime.sessions, write=False) as session:
        table = Table(title="web users")
        for column in ("id", "email", "name", "role", "agent", "active", "last login"):
            table.add_column(column)
        for u in service.list_users(session):
            table.add_row(str(u.id), u.email, u.name, u.role, str(u.agent_id or ""), "yes" if u.active else "no",
                          f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "")
    console.print(table)


@user_app.command("disable")
@clean_errors
def disable(email: str = typer.Argument(..., help="The user's e-mail.")) -> None:
    """Disable a login and end its sessions at once."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        service.set_active(session, email, False)
    console.print(f"disabled {email}; its sessions have ended")


@user_app.command("enable")
@clean_errors
def enable(email: str = typer.Argument(..., help="The user's e-mail.")) -> None:
    """Enable a disabled login."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        service.set_active(session, email, True)
    console.print(f"enabled {email}")
