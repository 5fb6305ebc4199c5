"""Fast set-based writes that behave the same on SQLite and PostgreSQL.

Importers and the demo builder write hundreds of thousands of rows; the ORM
unit of work is far too slow for that, so they go through Core statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, insert, select, tuple_
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
    column given except the key). Rows must share the same keys.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    columns = list(rows[0].keys())
    update = [c for c in (update if update is not None else columns) if c not in key]
    # One single-row statement run as executemany: it compiles once and is
    # cached, where a multi-row VALUES statement is recompiled for every
    # chunk (7-10x slower at a few thousand rows per call).
    statement = module.insert(table)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={c: statement.excluded[c] for c in update},
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    session.execute(statement, list(rows))


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
