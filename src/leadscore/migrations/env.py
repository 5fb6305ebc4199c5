"""Alembic environment: batch mode so SQLite can alter tables; a connection may be passed in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from leadscore.core.tables import metadata

config = context.config


def _include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    # SQLite keeps its own bookkeeping table; never try to drop it.
    return not (type_ == "table" and name == "sqlite_sequence")


def _configure(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        include_object=_include_object,
        transaction_per_migration=True,
        compare_type=True,
    )


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        render_as_batch=True,
        literal_binds=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
