"""Read-side queries for findings: filters, status expressions, pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.store.models import Engagement, Finding, Occurrence, Product, Span, Track


def risk_acceptance_in_force(today: date) -> ColumnElement[bool]:
    return and_(
        Finding.risk_accepted.is_(True),
        or_(Finding.risk_accepted_until.is_(None), Finding.risk_accepted_until >= today),
    )


def active_expr(today: date) -> ColumnElement[bool]:
    """DefectDojo's `active`: open on the default branch and not triaged away.

    An expired risk acceptance no longer hides the finding: it is active again.
    """
    return and_(
        Finding.present.is_(True),
        Finding.false_p.is_(False),
        Finding.out_of_scope.is_(False),
        not_(risk_acceptance_in_force(today)),
    )


def mitigated_expr() -> ColumnElement[bool]:
    return and_(Finding.on_default_branch.is_(True), Finding.present.is_(False))


@dataclass(frozen=True, slots=True)
class FindingFilters:
    product_id: int | None = None
    product_name: str | None = None
    active: bool | None = None
    is_mitigated: bool | None = None
    false_p: bool | None = None
    out_of_scope: bool | None = None
    risk_accepted: bool | None = None
    severity: int | None = None
    vulnerability_id: str | None = None
    component_name: str | None = None
    title: str | None = None
    component_version: str | None = None
    cwe: int | None = None
    first_seen_on: date | None = None
    mitigated_on: date | None = None
    engagement: Engagement | None = None  # present in that run
    ids: Sequence[int] | None = None  # e.g. the findings of one test
    product_ids: Sequence[int] | None = None  # the products the caller may read (None: all)
    where: tuple[ColumnElement[bool], ...] = ()  # further conditions (e.g. outside SLA)


ORDERINGS = {
    "id": Finding.id,
    "-id": Finding.id.desc(),
    "severity": Finding.severity,
    "-severity": Finding.severity.desc(),
    "title": Finding.title,
    "-title": Finding.title.desc(),
    "date": Finding.first_seen_at,
    "-date": Finding.first_seen_at.desc(),
}


def filtered(filters: FindingFilters, today: date) -> Select[Any]:
    statement = select(Finding.id)
    if filters.product_id is not None:
        statement = statement.where(Finding.product_id == filters.product_id)
    if filters.product_name is not None:
        statement = statement.where(
            Finding.product_id.in_(select(Product.id).where(Product.name == filters.product_name))
        )
    for flag, expression in (
        (filters.active, active_expr(today)),
        (filters.is_mitigated, mitigated_expr()),
        (filters.false_p, Finding.false_p.is_(True)),
        (filters.out_of_scope, Finding.out_of_scope.is_(True)),
        (filters.risk_accepted, risk_acceptance_in_force(today)),
    ):
        if flag is not None:
            statement = statement.where(expression if flag else not_(expression))
    if filters.severity is not None:
        statement = statement.where(Finding.severity == filters.severity)
    if filters.vulnerability_id:
        statement = statement.where(Finding.rule_id == filters.vulnerability_id)
    if filters.component_name:
        statement = statement.where(Finding.package_name == filters.component_name)
    if filters.title:
        statement = statement.where(contains(Finding.title, filters.title))
    if filters.component_version:
        statement = statement.where(Finding.installed_version == filters.component_version)
    if filters.cwe is not None:
        statement = statement.where(Finding.cwe == filters.cwe)
    if filters.first_seen_on is not None:
        statement = statement.where(_on_day(Finding.first_seen_at, filters.first_seen_on))
    if filters.mitigated_on is not None:
        statement = statement.where(_on_day(Finding.mitigated_at, filters.mitigated_on))
    if filters.engagement is not None:
        statement = statement.where(Finding.id.in_(present_in_run(filters.engagement)))
    if filters.ids is not None:
        statement = statement.where(Finding.id.in_(filters.ids))
    if filters.product_ids is not None:
        statement = statement.where(Finding.product_id.in_(filters.product_ids))
    for condition in filters.where:
        statement = statement.where(condition)
    return statement


def present_in_run(engagement: Engagement) -> Select[Any]:
    """Ids of the findings a run contained: the spans of its track that cover it."""
    seq = engagement.run_seq
    return select(Span.finding_id).where(
        Span.track_id == engagement.track_id,
        Span.start_seq <= seq,
        or_(Span.end_seq.is_(None), Span.end_seq >= seq),
    )


def _on_day(column: Any, day: date) -> ColumnElement[bool]:
    start = clock.at_midnight(day)
    return and_(column >= start, column < start + timedelta(days=1))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match, with LIKE's wildcards in `text` taken literally."""
    result: ColumnElement[bool] = column.ilike(f"%{escape_like(text)}%", escape="\\")
    return result


def page(
    session: Session,
    filters: FindingFilters,
    today: date,
    *,
    ordering: str,
    limit: int,
    offset: int,
) -> tuple[int, list[tuple[Finding, Occurrence | None]]]:
    ids = filtered(filters, today)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    order = ORDERINGS.get(ordering, Finding.id)
    rows = session.execute(
        select(Finding, Occurrence)
        .outerjoin(Occurrence, Occurrence.id == Finding.occurrence_id)
        .where(Finding.id.in_(ids))
        .order_by(order, Finding.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total), [(row[0], row[1]) for row in rows]


def newest_runs(session: Session, product_ids: Sequence[int]) -> dict[int, tuple[int, Any]]:
    """Product id → (engagement id, run time) of the newest run of its default branch.

    An open finding's "last seen" is that run: storing it per finding would cost a
    write per finding per run.
    """
    if not product_ids:
        return {}
    newest = (
        select(Engagement.track_id, func.max(Engagement.run_seq).label("seq"))
        .where(Engagement.has_runs.is_(True))
        .group_by(Engagement.track_id)
        .subquery()
    )
    rows = session.execute(
        select(Product.id, Engagement.id, Engagement.run_at)
        .join(Track, and_(Track.product_id == Product.id, Track.branch == Product.default_branch))
        .join(newest, newest.c.track_id == Track.id)
        .join(Engagement, and_(Engagement.track_id == Track.id, Engagement.run_seq == newest.c.seq))
        .where(Product.id.in_(product_ids))
    )
    return {row[0]: (row[1], row[2]) for row in rows}
