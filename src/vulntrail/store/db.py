"""Engine and sessions for SQLite (embedded default) and PostgreSQL (scale-out).

SQLite runs in WAL mode with a busy timeout, and every write transaction starts
with BEGIN IMMEDIATE: a writer takes the lock up front instead of failing to
upgrade a read lock half way, which is where "database is locked" comes from.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "vulntrail_write"
_encode_json = msgspec.json.Encoder().encode


def _json_text(value: Any) -> str:
    return _encode_json(value).decode("utf-8")


def make_engine(database_url: str, *, pool_size: int = 8) -> Engine:
    if database_url.startswith("sqlite"):
        return _sqlite_engine(database_url)
    return create_engine(
        database_url,
        json_serializer=_json_text,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
    )


def _sqlite_engine(database_url: str) -> Engine:
    engine = create_engine(
        database_url,
        json_serializer=_json_text,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Sessions:
    """Session factories: `read()` for queries, `write()` for one all-or-nothing change."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back on any error."""
        with self._write() as session, session.begin():
            yield session
