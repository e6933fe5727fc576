"""Fast bulk inserts for the import path (table and column names come from our models,
never from input, so composing them into SQL is safe).

SQLAlchemy's per-row parameter processing costs more than the database itself when
an import creates ten thousand rows. Here rows go to the driver as plain tuples
(SQLite `executemany`, PostgreSQL `COPY`), with ids assigned up front so callers
still learn them: under SQLite's write lock (BEGIN IMMEDIATE) the next ids are
simply max(id)+1…; on PostgreSQL they are drawn from the table's sequence.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import msgspec
import psycopg
from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.orm import Session

_encode_json = msgspec.json.Encoder().encode
CHUNK = 900  # bound parameters per IN (…) list, under every backend's limit
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_many(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    ids: Sequence[int] | None = None,
) -> list[int]:
    """Insert `rows` (all with the same keys) and return their ids, in row order.

    `ids`: ids reserved earlier with reserve_ids (when other rows must name them first).
    """
    if not rows:
        return []
    connection = session.connection()
    rows = _with_defaults(table, rows)
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    json_at = [i for i, column in enumerate(columns) if isinstance(column.type, JSON)]
    time_at = [i for i, column in enumerate(columns) if isinstance(column.type, DateTime)]
    postgres = connection.dialect.name == "postgresql"
    if ids is None:
        ids = reserve_ids(session, table, len(rows))
    tuples: list[list[Any]] = []
    for new_id, row in zip(ids, rows, strict=True):
        values = [row[name] for name in names]
        for index in json_at:
            value = values[index]
            # msgspec.Raw: JSON the caller already encoded.
            encoded = bytes(value) if isinstance(value, msgspec.Raw) else _encode_json(value)
            values[index] = encoded.decode("utf-8")
        if not postgres:
            for index in time_at:
                values[index] = _sqlite_time(values[index])
        tuples.append([new_id, *values])
    column_list = ", ".join(["id", *names])
    if postgres:
        raw = cast(psycopg.Connection[Any], connection.connection.dbapi_connection)
        statement = f"COPY {table.name} ({column_list}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for values in tuples:
                copy.write_row(values)
    else:
        marks = ", ".join("?" * (len(names) + 1))
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({column_list}) VALUES ({marks})",
            [tuple(values) for values in tuples],
        )
    return list(ids)


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """Ids no other writer will take: call inside the write transaction, insert before
    reserving again for the same table (SQLite counts from the rows present)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        result = connection.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
            f"FROM generate_series(1, {int(count)})"
        )
        return sorted(int(row[0]) for row in result)
    start = connection.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}").scalar()
    first = int(start or 0) + 1
    return list(range(first, first + count))


@functools.lru_cache(maxsize=64)  # an import writes the same few timestamps 10,000s of times
def _sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC), so reads parse it back."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """Fill the scalar column defaults a row leaves out, as an ORM insert would."""
    missing = {
        column.name: column.default.arg  # type: ignore[attr-defined]
        for column in table.columns
        if column.name not in rows[0]
        and column.name != "id"
        and column.default is not None
        and column.default.is_scalar
    }
    if not missing:
        return rows
    return [{**missing, **row} for row in rows]
