"""SLA questions asked of the store: which findings are past due, counts per product."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, false, func, or_, select
from sqlalchemy.orm import Session

from vulntrail import clock, sla
from vulntrail.parsers.interface import Severity
from vulntrail.store.findings_repo import active_expr
from vulntrail.store.models import Finding, Product


def product_overrides(session: Session) -> dict[int, dict[str, int]]:
    rows = session.execute(
        select(Product.id, Product.sla_days).where(Product.sla_days.is_not(None))
    )
    return {pid: dict(days) for pid, days in rows if days}


def due_before_expr(
    global_days: Mapping[str, int], overrides: Mapping[int, Mapping[str, int]], day: date
) -> ColumnElement[bool]:
    """Findings whose SLA due date is before `day` (first seen + days < day)."""

    def clause(days: Mapping[str, int]) -> list[ColumnElement[bool]]:
        out = []
        for severity in Severity:
            limit = days.get(severity.label)
            if limit is not None:
                cutoff = clock.at_midnight(day - timedelta(days=limit))
                out.append(and_(Finding.severity == int(severity), Finding.first_seen_at < cutoff))
        return out

    parts: list[ColumnElement[bool]] = []
    default = clause(global_days)
    if default:
        parts.append(and_(Finding.product_id.not_in(list(overrides)), or_(*default)))
    for product_id, days in overrides.items():
        merged = {**global_days, **days}
        own = clause(merged)
        if own:
            parts.append(and_(Finding.product_id == product_id, or_(*own)))
    return or_(*parts) if parts else false()


def outside_sla_expr(
    global_days: Mapping[str, int], overrides: Mapping[int, Mapping[str, int]], today: date
) -> ColumnElement[bool]:
    """Active findings past their due date (DefectDojo's `outside_of_sla`)."""
    return and_(active_expr(today), due_before_expr(global_days, overrides, today))


def summary(
    session: Session, global_days: Mapping[str, int], today: date, soon_days: int = 7
) -> list[dict[str, Any]]:
    """Per product and severity: active findings, overdue, due within `soon_days`."""
    overrides = product_overrides(session)
    overdue = due_before_expr(global_days, overrides, today)
    soon = due_before_expr(global_days, overrides, today + timedelta(days=soon_days + 1))
    rows = session.execute(
        select(
            Product.id,
            Product.name,
            Finding.severity,
            func.count(),
            func.sum(func.cast(overdue, Integer())),
            func.sum(func.cast(and_(soon, ~overdue), Integer())),
        )
        .join(Product, Product.id == Finding.product_id)
        .where(active_expr(today))
        .group_by(Product.id, Product.name, Finding.severity)
        .order_by(Product.name)
    )
    products: dict[int, dict[str, Any]] = {}
    for pid, name, severity, active, late, due_soon in rows:
        entry = products.setdefault(
            pid, {"product": pid, "product_name": name, "by_severity": {}, "overdue": 0}
        )
        days = sla.days_for(severity, global_days, overrides.get(pid))
        entry["by_severity"][Severity(severity).label] = {
            "active": active,
            "overdue": int(late or 0),
            "due_soon": int(due_soon or 0),
            "sla_days": days,
        }
        entry["overdue"] += int(late or 0)
    return list(products.values())
