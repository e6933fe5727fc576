"""Queries behind the pages: open counts, search, the same vulnerability elsewhere."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from vulntrail.store.findings_repo import active_expr, contains
from vulntrail.store.listing import Counts, empty_counts
from vulntrail.store.models import Engagement, Finding, Occurrence, Product, Scan, Span, Track


def open_counts(
    session: Session, today: date, product_ids: Sequence[int] | None = None
) -> dict[int, Counts]:
    """Product id → active findings per severity (open on the default branch, not triaged)."""
    statement = (
        select(Finding.product_id, Finding.severity, func.count())
        .where(active_expr(today))
        .group_by(Finding.product_id, Finding.severity)
    )
    if product_ids is not None:
        statement = statement.where(Finding.product_id.in_(product_ids))
    out: dict[int, Counts] = defaultdict(empty_counts)
    for product_id, severity, number in session.execute(statement):
        out[product_id][int(severity)] = int(number)
    return out


def default_tracks(session: Session, product_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Product id → id of the track of its default branch (products with runs there)."""
    statement = select(Track.product_id, Track.id).join(
        Product, and_(Product.id == Track.product_id, Track.branch == Product.default_branch)
    )
    if product_ids is not None:
        statement = statement.where(Track.product_id.in_(product_ids))
    return {product_id: track_id for product_id, track_id in session.execute(statement)}


_ID_LIKE = re.compile(r"^(CVE-\d{4}-\d+|GHSA(-[0-9a-z]{4}){3}|[A-Z]+-[\w.-]+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SearchHit:
    finding: Finding
    product_name: str
    active: bool


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    hits: list[SearchHit] = field(default_factory=list)


def id_variants(query: str) -> list[str]:
    """Spellings a vulnerability id is stored under: CVE ids upper case, GHSA ids lower."""
    text = query.strip()
    variants = {text, text.upper()}
    if text.upper().startswith("GHSA-"):
        variants.add("GHSA-" + text[5:].lower())
    return sorted(variants)


def search_condition(query: str) -> ColumnElement[bool]:
    text = query.strip()
    condition = or_(
        contains(Finding.rule_id, text),
        contains(Finding.package_name, text),
        contains(Finding.title, text),
    )
    if _ID_LIKE.match(text):
        condition = or_(Finding.rule_id.in_(id_variants(text)), condition)
    return condition


def search(
    session: Session,
    query: str,
    today: date,
    *,
    limit: int,
    offset: int,
    product_ids: Sequence[int] | None = None,
) -> SearchResult:
    """Findings of every product (of `product_ids`, None: all) whose id, package or title
    matches; exact id matches first, then open ones, then by severity."""
    if not query.strip():
        return SearchResult(0)
    condition = search_condition(query)
    if _ID_LIKE.match(query.strip()):
        # A CVE/GHSA id that exists: answer from the rule_id index, not LIKE over every row.
        by_id = Finding.rule_id.in_(id_variants(query))
        if session.scalar(select(Finding.id).where(by_id).limit(1)) is not None:
            condition = by_id
    if product_ids is not None:
        condition = and_(condition, Finding.product_id.in_(product_ids))
    total = session.scalar(select(func.count()).select_from(Finding).where(condition)) or 0
    active = active_expr(today)
    exact = Finding.rule_id.in_(id_variants(query))
    rows = session.execute(
        select(Finding, Product.name, active)
        .join(Product, Product.id == Finding.product_id)
        .where(condition)
        .order_by(
            case((exact, 0), else_=1),
            case((active, 0), else_=1),
            Finding.severity.desc(),
            Product.name,
            Finding.id,
        )
        .limit(limit)
        .offset(offset)
    )
    return SearchResult(int(total), [SearchHit(f, name, bool(a)) for f, name, a in rows])


def same_vulnerability(
    session: Session, finding: Finding, today: date, product_ids: Sequence[int] | None = None
) -> list[SearchHit]:
    """Other findings of the same vulnerability id: in other products, or elsewhere here."""
    statement = (
        select(Finding, Product.name, active_expr(today))
        .join(Product, Product.id == Finding.product_id)
        .where(Finding.rule_id == finding.rule_id, Finding.id != finding.id)
        .order_by(Product.name, Finding.package_name, Finding.id)
        .limit(200)
    )
    if product_ids is not None:
        statement = statement.where(Finding.product_id.in_(product_ids))
    rows = session.execute(statement)
    return [SearchHit(f, name, bool(a)) for f, name, a in rows]


def occurrence_in_run(
    session: Session, finding: Finding, engagement: Engagement
) -> Occurrence | None:
    """The attributes the finding had in one run, if that run contained it."""
    return session.scalar(
        select(Occurrence)
        .join(Span, Span.occurrence_id == Occurrence.id)
        .where(
            Span.finding_id == finding.id,
            Span.track_id == engagement.track_id,
            Span.start_seq <= engagement.run_seq,
            or_(Span.end_seq.is_(None), Span.end_seq >= engagement.run_seq),
        )
        .limit(1)
    )


def artifact_of(session: Session, engagement_id: int | None) -> str:
    """The artifact (image) a run scanned, to show in place of the stored placeholder."""
    if engagement_id is None:
        return ""
    name = session.scalar(
        select(Scan.artifact_name)
        .where(Scan.engagement_id == engagement_id, Scan.artifact_name != "")
        .order_by(Scan.id)
        .limit(1)
    )
    return name or ""


def names_of(session: Session, engagement_ids: Sequence[int | None]) -> dict[int, Engagement]:
    wanted = {i for i in engagement_ids if i is not None}
    if not wanted:
        return {}
    return {e.id: e for e in session.scalars(select(Engagement).where(Engagement.id.in_(wanted)))}
