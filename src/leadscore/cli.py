"""The ``leadscore`` command: one Typer sub-app per domain, assembled here."""

from __future__ import annotations

import typer
from rich.table import Table

from leadscore import __version__
from leadscore.core import migrate
from leadscore.core.cli import clean_errors, console, open_runtime
from leadscore.core.config import load_settings
from leadscore.core.database import check_connection, make_engine

app = typer.Typer(
    name="leadscore",
    help="Open, explainable lead scoring: import, train, score, route, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def version() -> None:
    """Print the installed version."""
    console.print(__version__)


@app.command("config")
@clean_errors
def show_config() -> None:
    """Print the effective settings (secrets masked)."""
    settings = load_settings()
    table = Table(title="leadscore settings", show_header=True)
    table.add_column("variable")
    table.add_column("value", overflow="fold")
    for key, value in settings.describe().items():
        table.add_row(key, value)
    console.print(table)


@db_app.command("upgrade")
@clean_errors
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = load_settings()
    engine = make_engine(settings)
    check_connection(engine)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine, revision)
    after = migrate.current_revision(engine)
    console.print(f"database at revision {after} (was {before or 'empty'})")


@db_app.command("downgrade")
@clean_errors
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Revert migrations down to REVISION."""
    engine = make_engine(load_settings())
    check_connection(engine)
    migrate.downgrade(engine, revision)
    console.print(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db_app.command("current")
@clean_errors
def db_current() -> None:
    """Show the database's revision and the latest available."""
    with open_runtime() as runtime:
        console.print(
            f"current {migrate.current_revision(runtime.engine)}, head {migrate.head_revision(runtime.engine)}"
        )


def _register_subcommands() -> None:
    # Sub-apps live with their domains; imported here so `leadscore --help` lists them.
    from leadscore.core.security.cli import apikey_app

    app.add_typer(apikey_app, name="apikey")
    from leadscore.integrations.cli import import_app

    app.add_typer(import_app, name="import")
    from leadscore.demo.cli import demo_command

    app.command("demo")(demo_command)
    from leadscore.registry.cli import models_app
    from leadscore.registry.train_cli import evaluate_command, monitor_app, train_command

    app.add_typer(models_app, name="models")
    app.add_typer(monitor_app, name="monitor")
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    from leadscore.scoring.cli import score_command

    app.command("score")(score_command)
    from leadscore.core.serve_cli import scheduler_command, serve_command, worker_command

    app.command("serve")(serve_command)
    app.command("worker")(worker_command)
    app.command("scheduler")(scheduler_command)
    from leadscore.core.tasks_cli import tasks_app

    app.add_typer(tasks_app, name="tasks")
    from leadscore.webhooks.cli import webhook_app

    app.add_typer(webhook_app, name="webhook")
    from leadscore.web.cli import user_app

    app.add_typer(user_app, name="user")


_register_subcommands()
