"""Lookups of products, product types, engagements and tests (DefectDojo v2 shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.api.deps import principal, services
from vulntrail.api.finding_schema import finding_json
from vulntrail.api.pagination import clamp, paginated
from vulntrail.auth.tokens import Principal
from vulntrail.errors import NotFound
from vulntrail.parsers.interface import Severity
from vulntrail.store import runs_repo
from vulntrail.store.models import Engagement, Product, ProductType, Scan

router = APIRouter(prefix="/api/v2", tags=["catalog"])


def _iso(value: datetime | None) -> str | None:
    return clock.aware(value).isoformat() if value is not None else None


def _page(
    request: Request,
    session: Session,
    statement: Select[Any],
    limit: int | None,
    offset: int | None,
    render: Any,
) -> dict[str, Any]:
    size, start = clamp(limit, offset)
    count = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(statement.limit(size).offset(start)).all()
    return paginated(request, int(count), size, start, [render(row) for row in rows])


def product_type_json(row: ProductType) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "created": _iso(row.created),
    }


def product_json(row: Product) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "prod_type": row.prod_type_id,
        "default_branch": row.default_branch,
        "created": _iso(row.created),
        "tags": [],
    }


def engagement_json(row: Engagement) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "product": row.product_id,
        "branch_tag": row.branch_tag or row.branch,
        "branch": row.branch,
        "commit_hash": row.commit_hash,
        "build_id": row.build_id,
        "version": row.version,
        "status": row.status,
        "engagement_type": row.engagement_type,
        "target_start": row.target_start.isoformat(),
        "target_end": row.target_end.isoformat(),
        "tags": row.tags,
        "pipeline_id": row.pipeline_id,
        "run_at": _iso(row.run_at),
        "created": _iso(row.created),
        "updated": _iso(row.updated),
        "source_code_management_uri": row.source_code_management_uri or None,
    }


def test_json(row: Scan) -> dict[str, Any]:
    return {
        "id": row.id,
        "engagement": row.engagement_id,
        "title": row.title,
        "scan_type": row.scan_type,
        "test_type_name": row.scan_type,
        "version": row.version,
        "build_id": row.build_id,
        "commit_hash": row.commit_hash,
        "branch_tag": row.branch_tag,
        "tags": row.tags,
        "finding_count": row.finding_count,
        "artifact_name": row.artifact_name,
        "scanner_version": row.scanner_version,
        "report_format": row.report_format,
        "statistics": row.statistics,
        "target_start": _iso(row.created),
        "created": _iso(row.created),
        "updated": _iso(row.updated),
    }


@router.get("/product_types/")
def list_product_types(
    request: Request,
    who: Principal = Depends(principal),
    name: str | None = None,
    limit: int | None = Query(None, ge=0),
    offset: int | None = Query(None, ge=0),
) -> dict[str, Any]:
    statement = select(ProductType).order_by(ProductType.id)
    if name:
        statement = statement.where(ProductType.name == name)
    with services(request).sessions.read() as session:
        return _page(request, session, statement, limit, offset, product_type_json)


@router.get("/products/")
def list_products(
    request: Request,
    who: Principal = Depends(principal),
    name: str | None = None,
    name_exact: str | None = None,
    prod_type: int | None = None,
    limit: int | None = Query(None, ge=0),
    offset: int | None = Query(None, ge=0),
) -> dict[str, Any]:
    statement = select(Product).order_by(Product.id)
    if name:
        statement = statement.where(
            func.lower(Product.name).contains(name.lower(), autoescape=True)
        )
    if name_exact:
        statement = statement.where(Product.name == name_exact)
    if prod_type is not None:
        statement = statement.where(Product.prod_type_id == prod_type)
    with services(request).sessions.read() as session:
        return _page(request, session, statement, limit, offset, product_json)


@router.get("/engagements/")
def list_engagements(
    request: Request,
    who: Principal = Depends(principal),
    product: int | None = None,
    name: str | None = None,
    product_name: str | None = None,
    limit: int | None = Query(None, ge=0),
    offset: int | None = Query(None, ge=0),
) -> dict[str, Any]:
    statement = select(Engagement).order_by(Engagement.id)
    if product is not None:
        statement = statement.where(Engagement.product_id == product)
    if name:
        statement = statement.where(Engagement.name == name)
    if product_name:
        statement = statement.where(
            Engagement.product_id.in_(select(Product.id).where(Product.name == product_name))
        )
    with services(request).sessions.read() as session:
        return _page(request, session, statement, limit, offset, engagement_json)


@router.get("/engagements/{engagement_id}/")
def get_engagement(
    engagement_id: int, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        row = session.get(Engagement, engagement_id)
        if row is None:
            raise NotFound(f"engagement {engagement_id} does not exist")
        return engagement_json(row)


@router.get("/engagements/{engagement_id}/findings/")
def engagement_findings(
    engagement_id: int, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """vulntrail: the findings this run contained, as they were in it, and those it resolved."""
    today = clock.now().date()
    with services(request).sessions.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None:
            raise NotFound(f"engagement {engagement_id} does not exist")
        items = runs_repo.run_findings(session, engagement)
        previous = runs_repo.previous_run(session, engagement)
    present = [i for i in items if i.change != "resolved"]
    groups: dict[str, int] = {Severity(s).label: 0 for s in range(4, -1, -1)}
    for item in present:
        groups[Severity(item.occurrence.severity).label] += 1
    return {
        "engagement": engagement_json(engagement),
        "previous_engagement": previous.id if previous else None,
        "counts": groups,
        "new": sum(1 for i in items if i.change == "new"),
        "resolved": sum(1 for i in items if i.change == "resolved"),
        "results": [
            {
                **finding_json(i.finding, i.occurrence, today=today, newest=None),
                "severity": Severity(i.occurrence.severity).label,
                "component_version": i.occurrence.installed_version or None,
                "fixed_version": i.occurrence.fixed_version or None,
                "title": i.occurrence.title or i.finding.rule_id,
                "change": i.change,
            }
            for i in items
        ],
    }


@router.get("/tests/")
def list_tests(
    request: Request,
    who: Principal = Depends(principal),
    engagement: int | None = None,
    title: str | None = None,
    test_type: str | None = None,
    limit: int | None = Query(None, ge=0),
    offset: int | None = Query(None, ge=0),
) -> dict[str, Any]:
    statement = select(Scan).order_by(Scan.id)
    if engagement is not None:
        statement = statement.where(Scan.engagement_id == engagement)
    if title:
        statement = statement.where(Scan.title == title)
    if test_type:
        statement = statement.where(Scan.scan_type == test_type)
    with services(request).sessions.read() as session:
        return _page(request, session, statement, limit, offset, test_json)


@router.get("/tests/{test_id}/")
def get_test(test_id: int, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        row = session.get(Scan, test_id)
        if row is None:
            raise NotFound(f"test {test_id} does not exist")
        return test_json(row)
