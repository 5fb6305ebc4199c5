"""Append many rows fast, inside the caller's transaction, on SQLite and PostgreSQL.

``leadscore.core.bulk.insert_rows`` goes through SQLAlchemy's per-value type
processing, which costs about a minute for the demo's million interactions.
This writes column arrays straight through the DBAPI connection the session
already holds (same transaction, so a rollback undoes it): ``executemany`` on
SQLite, ``COPY ... FROM STDIN`` on PostgreSQL. Values are stored exactly as
SQLAlchemy would store them, so the ORM reads them back unchanged:

- datetimes: naive UTC ``datetime64`` columns; SQLite gets SQLAlchemy's
  ``YYYY-MM-DD HH:MM:SS.ffffff`` text, PostgreSQL an ISO value with ``+00:00``;
- JSON columns: already-serialised JSON text;
- booleans, numbers, strings: NaN, NaT and None become NULL.

Callers must give every column that has no server default (Python-side
defaults such as ``utcnow`` do not run here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Column, Integer, MetaData, Table
from sqlalchemy.orm import Session

from leadscore.core.database import UTCDateTime


def _is_datetime(column: Any) -> bool:
    return isinstance(column.type, UTCDateTime)


def _datetime_text(values: np.ndarray, suffix: str) -> np.ndarray:
    values = np.asarray(values).astype("datetime64[us]")
    text = np.datetime_as_string(values, unit="us")  # 'YYYY-MM-DDTHH:MM:SS.ffffff'
    codes = text.view(np.uint32).reshape(len(text), -1).copy()
    codes[:, 10] = ord(" ")
    text = codes.view(f"<U{codes.shape[1]}").ravel().astype(object)
    if suffix:
        text = text + suffix
    text[np.isnat(values)] = None
    return text


def _column_values(column: Any, values: pd.Series, dialect: str) -> list[Any]:
    if _is_datetime(column):
        return _datetime_text(values.to_numpy(), "+00:00" if dialect == "postgresql" else "").tolist()
    array = values.to_numpy()
    if isinstance(column.type, Boolean):
        out = np.where(pd.isna(values).to_numpy(), None, array.astype(bool).astype(object))
        return out.tolist()
    if array.dtype.kind == "f" and isinstance(column.type, Integer):
        missing = np.isnan(array)
        out = np.where(missing, 0, array).astype(np.int64).astype(object)
        out[missing] = None
        return out.tolist()
    if array.dtype.kind == "f":
        out = array.astype(object)
        out[np.isnan(array)] = None
        return out.tolist()
    if array.dtype.kind in "iub":
        return array.tolist()
    out = array.astype(object)
    out[pd.isna(values).to_numpy()] = None
    return out.tolist()


def insert_frame(session: Session, table: Table, frame: pd.DataFrame) -> int:
    """Append ``frame`` (columns named like the table's) to ``table``; returns the row count."""
    if frame.empty:
        return 0
    connection = session.connection()
    dialect = connection.dialect.name
    columns = [table.c[name] for name in frame.columns]
    data = [_column_values(column, frame[column.name], dialect) for column in columns]
    rows = list(zip(*data, strict=True))
    names = ", ".join(f'"{c.name}"' for c in columns)
    driver = connection.connection.driver_connection
    if dialect == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    elif dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
        cursor = driver.cursor()
        try:
            cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
        finally:
            cursor.close()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise ValueError(f"unsupported database dialect {dialect!r}: leadscore runs on SQLite and PostgreSQL")
    return len(rows)


def update_frame(session: Session, table: Table, frame: pd.DataFrame, key: str = "id") -> int:
    """Overwrite the given columns of existing rows, matched on ``key``; returns the row count."""
    if frame.empty:
        return 0
    connection = session.connection()
    dialect = connection.dialect.name
    columns = [c for c in frame.columns if c != key]
    driver = connection.connection.driver_connection
    if dialect == "sqlite":
        ordered = frame[[*columns, key]]
        data = [_column_values(table.c[name], ordered[name], dialect) for name in ordered.columns]
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        cursor = driver.cursor()
        try:
            cursor.executemany(f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = ?', list(zip(*data, strict=True)))
        finally:
            cursor.close()
        return len(frame)
    if dialect != "postgresql":  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise ValueError(f"unsupported database dialect {dialect!r}: leadscore runs on SQLite and PostgreSQL")
    stage = f"_stage_{table.name}"
    names = ", ".join(f'"{c}"' for c in [key, *columns])
    with driver.cursor() as cursor:
        cursor.execute(f'CREATE TEMP TABLE "{stage}" ON COMMIT DROP AS SELECT {names} FROM "{table.name}" WITH NO DATA')
    stage_table = Table(stage, MetaData(), *[Column(c.name, c.type) for c in table.c if c.name in (key, *columns)])
    insert_frame(session, stage_table, frame[[key, *columns]])
    sets = ", ".join(f'"{c}" = s."{c}"' for c in columns)
    with driver.cursor() as cursor:
        cursor.execute(f'UPDATE "{table.name}" AS t SET {sets} FROM "{stage}" AS s WHERE t."{key}" = s."{key}"')
        cursor.execute(f'DROP TABLE "{stage}"')
    return len(frame)
