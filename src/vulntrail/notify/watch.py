"""Events that time brings rather than a change: SLAs and risk acceptances that end soon.

A periodic scan (every `VULNTRAIL_NOTIFY_WATCH_SECONDS`, in one write transaction)
enqueues `sla.breach_soon` for active findings whose SLA falls due between today and
today + `VULNTRAIL_SLA_WARN_DAYS`, and `risk_acceptance.expiring` for open findings whose
acceptance ends between today and today + `VULNTRAIL_ACCEPTANCE_WARN_DAYS`. Each carries
the dedup key (event, finding, date), so scanning again, from any number of server
processes, writes nothing new; a changed due date or a renewed acceptance is a new event.
Findings already past the date are not announced: the warning is for what can still be
acted on. Only products that some target listens to are scanned.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from vulntrail import sla
from vulntrail.config import Settings
from vulntrail.notify import events, outbox
from vulntrail.notify.outbox import Item
from vulntrail.store import findings_repo, sla_repo
from vulntrail.store.models import Finding, NotificationTarget, Product


def scan(session: Session, settings: Settings, today: date) -> int:
    """Enqueue what is due to be announced; returns the number of messages written."""
    targets = outbox.active_targets(session)
    written = 0
    for event, collect in (
        (events.SLA_BREACH_SOON, _sla_items),
        (events.ACCEPTANCE_EXPIRING, _acceptance_items),
    ):
        listening = [t for t in targets if not t.events or event in t.events]
        if not listening:
            continue
        for product_id, items in _by_product(collect(session, settings, today, listening)):
            written += outbox.enqueue_many(
                session, event=event, product_id=product_id, items=items, targets=listening
            )
    return written


Row = tuple[int, Item]  # product id, (payload, dedup key)


def _sla_items(
    session: Session, settings: Settings, today: date, targets: list[NotificationTarget]
) -> Iterator[Row]:
    days, overrides = sla.parse_days(settings.sla_days), sla_repo.product_overrides(session)
    last = today + timedelta(days=settings.sla_warn_days)
    due_by_last = sla_repo.due_before_expr(days, overrides, last + timedelta(days=1))
    overdue = sla_repo.due_before_expr(days, overrides, today)
    statement = _findings(targets, findings_repo.active_expr(today), due_by_last, ~overdue)
    for row in session.execute(statement.add_columns(Finding.first_seen_at)):
        allowed = sla.days_for(row.severity, days, overrides.get(row.pid))
        due = sla.due_date(row.first_seen_at, allowed)
        if due is None or not today <= due <= last:
            continue
        payload = events.sla_breach_soon(_product(row), _finding(row), due, (due - today).days)
        yield row.pid, (payload, events.dedup_key(events.SLA_BREACH_SOON, row.id, due))


def _acceptance_items(
    session: Session, settings: Settings, today: date, targets: list[NotificationTarget]
) -> Iterator[Row]:
    last = today + timedelta(days=settings.acceptance_warn_days)
    until = Finding.risk_accepted_until
    statement = _findings(
        targets,
        Finding.present.is_(True),
        Finding.false_p.is_(False),
        Finding.out_of_scope.is_(False),
        Finding.risk_accepted.is_(True),
        until.is_not(None),
        until >= today,
        until <= last,
    ).add_columns(until, Finding.triage_reason)
    for row in session.execute(statement):
        ends: date = row.risk_accepted_until
        payload = events.acceptance_expiring(
            _product(row), _finding(row), ends, (ends - today).days, row.triage_reason
        )
        yield row.pid, (payload, events.dedup_key(events.ACCEPTANCE_EXPIRING, row.id, ends))


def _findings(targets: list[NotificationTarget], *conditions: ColumnElement[bool]) -> Select[Any]:
    statement = (
        select(
            Finding.id,
            Finding.product_id.label("pid"),
            Product.name.label("product_name"),
            Finding.title,
            Finding.severity,
            Finding.rule_id,
            Finding.package_name,
            Finding.installed_version,
            Finding.fixed_version,
        )
        .join(Product, Product.id == Finding.product_id)
        .where(and_(*conditions))
        .order_by(Finding.product_id, Finding.id)
    )
    own = sorted({t.product_id for t in targets if t.product_id is not None})
    if all(t.product_id is not None for t in targets):  # no global target: those products
        statement = statement.where(Finding.product_id.in_(own))
    return statement


def _by_product(rows: Iterator[Row]) -> Iterator[tuple[int, list[Item]]]:
    grouped: dict[int, list[Item]] = {}
    for product_id, item in rows:
        grouped.setdefault(product_id, []).append(item)
    yield from grouped.items()


def _product(row: Any) -> events.ProductRef:
    return events.ProductRef(row.pid, row.product_name)


def _finding(row: Any) -> events.FindingInfo:
    return events.FindingInfo(
        row.id,
        row.title,
        row.severity,
        row.rule_id,
        row.package_name,
        row.installed_version,
        row.fixed_version,
    )
