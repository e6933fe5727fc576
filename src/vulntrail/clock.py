"""The one place that reads the time, so tests and imports agree on what "now" is."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def now() -> datetime:
    return datetime.now(UTC)


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
