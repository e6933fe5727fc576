"""Read a test database directly, to prove what an HTTP call did or did not change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, inspect, text

TABLES = (
    "product_types",
    "products",
    "tracks",
    "engagements",
    "tests",
    "reports",
    "findings",
    "occurrences",
    "spans",
    "users",
    "api_tokens",
)


def snapshot(
    database_url: str, *, skip: tuple[str, ...] = ("api_tokens",)
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: equal snapshots mean an unchanged store."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            out = {}
            for table in TABLES:
                if table in skip or table not in names:
                    continue
                rows = conn.execute(text(f"SELECT * FROM {table}")).all()
                out[table] = sorted(tuple(repr(v) for v in row) for row in rows)
            return out
    finally:
        engine.dispose()


def row_counts(database_url: str) -> dict[str, int]:
    return {table: len(rows) for table, rows in snapshot(database_url, skip=()).items()}


def first_seen_days_ago(database_url: str, days: int) -> None:
    """Move every finding's first sighting `days` back: the SLA clock's start."""
    from datetime import datetime, timedelta

    engine = create_engine(database_url)
    with engine.begin() as conn:
        for finding_id, seen in conn.execute(text("SELECT id, first_seen_at FROM findings")).all():
            if isinstance(seen, str):  # SQLite hands back text
                seen = datetime.fromisoformat(seen)
            conn.execute(
                text("UPDATE findings SET first_seen_at = :t WHERE id = :i"),
                {"t": seen - timedelta(days=days), "i": finding_id},
            )
    engine.dispose()
