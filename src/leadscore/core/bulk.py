"""Fast set-based writes that behave the same on SQLite and PostgreSQL.

Importers and the demo builder write hundreds of thousands of rows; the ORM
unit of work is far too slow for that, so they go through Core statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# SQLite allows 32,766 bound parameters per statement; stay well below.
MAX_PARAMETERS = 30_000


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain multi-row INSERT (executemany); every row must have the same keys."""
    if rows:
        session.execute(insert(table), list(rows))


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE on both backends.

    ``update`` names the columns to overwrite on conflict (default: every
    column given except the key). Rows must share the same keys. Columns
    left out get their Python-side default on insert and are not touched on
    conflict, exactly as with an ORM insert.
    """
    if not rows:
        return
    connection = session.connection()
    columns = tuple(rows[0].keys())
    update = tuple(c for c in (update if update is not None else columns) if c not in key)
    plan = _upsert_plan(connection.dialect, table, columns, tuple(key), update)
    defaults = {name: (arg(None) if callable(arg) else arg) for name, arg in plan.defaults}
    processors = plan.processors
    if plan.positional:
        parameters: list[Any] = []
        for row in rows:
            values = {**defaults, **row}
            parameters.append(
                tuple(values[n] if processors[n] is None else processors[n](values[n]) for n in plan.order)
            )
    else:
        parameters = []
        for row in rows:
            values = {**defaults, **row}
            parameters.append(
                {n: values[n] if processors[n] is None else processors[n](values[n]) for n in plan.order}
            )
    # Straight to the driver's executemany: SQLAlchemy's per-row parameter
    # handling costs more than the database work at import sizes (3-4x).
    connection.exec_driver_sql(plan.sql, parameters)


@dataclass(frozen=True)
class _UpsertPlan:
    sql: str
    order: tuple[str, ...]
    positional: bool
    processors: dict[str, Callable[[Any], Any] | None]
    defaults: tuple[tuple[str, Any], ...]


@lru_cache(maxsize=256)
def _upsert_plan(
    dialect: Dialect, table: Table, columns: tuple[str, ...], key: tuple[str, ...], update: tuple[str, ...]
) -> _UpsertPlan:
    """Compile one upsert shape once: SQL text, parameter order, type processors, defaults."""
    module = postgresql if dialect.name == "postgresql" else sqlite
    defaults = tuple(
        (c.key, c.default.arg)
        for c in table.columns
        if c.key not in columns and c.default is not None and not c.primary_key and not c.default.is_sequence
    )
    names = columns + tuple(name for name, _ in defaults)
    statement = module.insert(table).values({n: bindparam(n, type_=table.c[n].type) for n in names})
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_={c: statement.excluded[c] for c in update}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    compiled = statement.compile(dialect=dialect)
    positional = bool(compiled.positional)
    order = tuple(compiled.positiontup) if positional else names
    processors = {n: table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names}
    return _UpsertPlan(compiled.string, order, positional, processors, defaults)


def existing_keys(
    session: Session, table: Table, key: Sequence[str], values: Iterable[tuple[Any, ...]]
) -> dict[tuple[Any, ...], int]:
    """Map natural keys that already exist to their primary key ``id``."""
    values = list(dict.fromkeys(values))
    found: dict[tuple[Any, ...], int] = {}
    if not values:
        return found
    columns = [table.c[name] for name in key]
    # Key parts that are the same for every value (typically the dataset)
    # become an equality: a composite IN list defeats the index on PostgreSQL.
    constant = [i for i in range(len(key)) if len({v[i] for v in values}) == 1]
    varying = [i for i in range(len(key)) if i not in constant]
    fixed = [columns[i] == values[0][i] for i in constant]
    step = max(1, MAX_PARAMETERS // (len(varying) + 1))
    for start in range(0, len(values), step):
        batch = values[start : start + step]
        if not varying:
            condition = fixed
        elif len(varying) == 1:
            condition = [*fixed, columns[varying[0]].in_([v[varying[0]] for v in batch])]
        else:
            condition = [*fixed, tuple_(*(columns[i] for i in varying)).in_([tuple(v[i] for i in varying) for v in batch])]
        for row in session.execute(select(table.c.id, *columns).where(*condition)):
            found[tuple(row[1:])] = row[0]
    return found
