"""Service-level agreements: days to fix a finding, by severity.

The clock starts when the finding was first seen on the default branch. Defaults:
Critical 7, High 30, Medium 90, Low 180, Info none. VULNTRAIL_SLA_DAYS overrides them
globally (`critical=7,high=30,medium=90,low=180`, `info=365` to add one); a product's
`sla_days` overrides per severity. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from vulntrail.config import ConfigError
from vulntrail.parsers.interface import Severity

DEFAULT_DAYS: dict[str, int] = {"Critical": 7, "High": 30, "Medium": 90, "Low": 180}


def parse_days(text: str | None) -> dict[str, int]:
    """`critical=7,high=30` → {"Critical": 7, "High": 30} over the defaults."""
    days = dict(DEFAULT_DAYS)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        label = name.strip().capitalize()
        if label not in {s.label for s in Severity} or not value.strip().isdigit():
            raise ConfigError(f"VULNTRAIL_SLA_DAYS: {part.strip()!r} is not severity=days")
        days[label] = int(value)
    return days


def days_for(
    severity: int, global_days: Mapping[str, int], product_days: Mapping[str, int] | None
) -> int | None:
    label = Severity(severity).label
    if product_days and label in product_days:
        return int(product_days[label])
    return global_days.get(label)


def due_date(first_seen: datetime | None, days: int | None) -> date | None:
    if first_seen is None or days is None:
        return None
    return first_seen.date() + timedelta(days=days)


def days_left(due: date | None, today: date) -> int | None:
    """Negative when overdue."""
    return None if due is None else (due - today).days
